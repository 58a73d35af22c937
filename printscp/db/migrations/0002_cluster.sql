-- Several printscp nodes on one database ([cluster], docs/deployment.md): the print queue they share and
-- their heartbeats. db/pg_jobs.py is the only module that reads and writes these tables.

CREATE TABLE print_jobs (
    job_uid text COLLATE "C" PRIMARY KEY,          -- the Print Job SOP Instance UID
    sequence bigserial NOT NULL UNIQUE,             -- order of acknowledgement, across the nodes
    node_id text COLLATE "C" NOT NULL,              -- the node that spooled it (and holds its association)
    spool_folder text NOT NULL,                     -- its folder in that node's spool, on the shared storage
    printer text COLLATE "C" NOT NULL,              -- AE title of the printer that prints it
    film_session_uid text COLLATE "C" NOT NULL,     -- one Film Session's jobs print in order
    print_priority text NOT NULL,                   -- HIGH, MED, LOW
    priority_rank smallint NOT NULL,                -- 0 HIGH, 1 MED, 2 LOW: the order jobs are taken in
    creation text NOT NULL,                         -- ISO 8601 with its offset, as the spool has it (it names
                                                    -- the job's archive folder: YYYY/MM/DD of that time)
    originator text NOT NULL,                       -- AE title of the SCU
    film_session_label text NOT NULL,
    films integer NOT NULL,
    execution_status text NOT NULL DEFAULT 'PENDING',   -- PS3.3 C.13.8: PENDING, PRINTING, DONE, FAILURE
    execution_status_info text NOT NULL DEFAULT 'QUEUED',
    version integer NOT NULL DEFAULT 1,             -- +1 at each change: the order of its N-EVENT-REPORTs
    lease_owner text COLLATE "C",                   -- the node rendering it, while its lease runs
    lease_expires timestamptz,
    attempts integer NOT NULL DEFAULT 0,            -- times a node took it
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz                         -- DONE or FAILURE
);
CREATE INDEX print_jobs_open ON print_jobs (priority_rank, sequence) WHERE finished_at IS NULL;
CREATE INDEX print_jobs_session ON print_jobs (film_session_uid, sequence) WHERE finished_at IS NULL;

CREATE TABLE nodes (
    node_id text COLLATE "C" PRIMARY KEY,
    host text NOT NULL,
    port integer NOT NULL,                          -- its DICOM port
    version text NOT NULL,                          -- of printscp
    started_at timestamptz NOT NULL,
    last_heartbeat timestamptz NOT NULL,
    jobs_running integer NOT NULL DEFAULT 0,
    associations integer NOT NULL DEFAULT 0,
    draining boolean NOT NULL DEFAULT false,        -- `printscp node drain`: finish and exit
    stopped_at timestamptz                          -- it stopped cleanly (NULL while it runs, or if it died)
);
