-- Cluster mode and relays (relay/queue.py): a job with relay_to targets is rendered by the node that holds its
-- relays, `node_id` (it spooled the job, or adopted the relays of the node that did when that node died): only
-- that node can tell its paper targets the films are archived, and make the Print Job follow its relays.
ALTER TABLE print_jobs ADD COLUMN relayed boolean NOT NULL DEFAULT false;

-- Finished jobs are deleted queue.keep_finished_jobs after they finished (Print Job N-GET answers them until
-- then, as on a single node); every node prunes at its heartbeat.
CREATE INDEX print_jobs_finished ON print_jobs (finished_at) WHERE finished_at IS NOT NULL;

-- A run-time fault rule's counters are the cluster's: `after` and `count` are counted over the requests of
-- every node (bench/faults.py; shared_state.SharedFaultPlan).
ALTER TABLE fault_rules ADD COLUMN seen integer NOT NULL DEFAULT 0;    -- matching requests so far
ALTER TABLE fault_rules ADD COLUMN fired integer NOT NULL DEFAULT 0;   -- of which it fired on
