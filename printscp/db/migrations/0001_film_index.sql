-- The archive's index (archive/film_index.py): one row per DICOM instance, per printed film, per transcript.
-- Every column is text, as in the SQLite index, and compared byte by byte (COLLATE "C"), as SQLite does,
-- whatever the database's own locale. The columns after the protocol's are derived by archive/pg_index.py
-- when it writes a row (PostgreSQL cannot call Python's fold() and str.upper(), which the searches use).

CREATE FUNCTION printscp_integer(value text) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    -- as SQLite's CAST(value AS INTEGER): the leading integer, 0 when there is none, NULL stays NULL
    RETURN CASE WHEN value IS NULL THEN NULL
                ELSE coalesce(substring(value FROM '^\s*([+-]?[0-9]+)')::numeric, 0) END;

CREATE TABLE instances (
    sop_instance_uid text COLLATE "C" PRIMARY KEY,
    sop_class_uid text COLLATE "C",
    patient_id text COLLATE "C",
    patient_name text COLLATE "C",
    patient_birth_date text COLLATE "C",
    patient_sex text COLLATE "C",
    study_instance_uid text COLLATE "C",
    study_date text COLLATE "C",
    study_time text COLLATE "C",
    accession_number text COLLATE "C",
    study_id text COLLATE "C",
    study_description text COLLATE "C",
    referring_physician_name text COLLATE "C",
    series_instance_uid text COLLATE "C",
    modality text COLLATE "C",
    series_number text COLLATE "C",
    series_description text COLLATE "C",
    instance_number text COLLATE "C",
    path text COLLATE "C",
    size text COLLATE "C",
    added_at text COLLATE "C",
    source text COLLATE "C",
    job_uid text COLLATE "C",
    calling_ae_title text COLLATE "C",
    -- derived: Python's str.upper() of the PN columns, for C-FIND's case-insensitive matching
    patient_name_upper text COLLATE "C",
    referring_physician_name_upper text COLLATE "C"
);
CREATE INDEX instances_study ON instances (study_instance_uid);
CREATE INDEX instances_series ON instances (series_instance_uid);
CREATE INDEX instances_patient ON instances (patient_id);
CREATE INDEX instances_job ON instances (job_uid);

CREATE TABLE films (
    job_uid text COLLATE "C" NOT NULL,
    film_number text COLLATE "C" NOT NULL,
    sop_instance_uid text COLLATE "C",
    film_session_uid text COLLATE "C",
    film_box_uid text COLLATE "C",
    calling_ae_title text COLLATE "C",
    called_ae_title text COLLATE "C",
    printer text COLLATE "C",
    requested_at text COLLATE "C",
    rendered_at text COLLATE "C",
    film_session_label text COLLATE "C",
    owner_id text COLLATE "C",
    film_size_id text COLLATE "C",
    image_display_format text COLLATE "C",
    number_of_copies text COLLATE "C",
    color text COLLATE "C",
    patient_name text COLLATE "C",
    patient_id text COLLATE "C",
    patient_birth_date text COLLATE "C",
    patient_sex text COLLATE "C",
    accession_number text COLLATE "C",
    identity_source text COLLATE "C",
    identity_confirmed text COLLATE "C",
    identity_review text COLLATE "C",
    study_instance_uid text COLLATE "C",
    folder text COLLATE "C",
    pdf text COLLATE "C",
    png text COLLATE "C",
    dcm text COLLATE "C",
    pdf_sha256 text COLLATE "C",
    png_sha256 text COLLATE "C",
    dcm_sha256 text COLLATE "C",
    size text COLLATE "C",
    association_id text COLLATE "C",
    -- derived: identity/model.py fold() of the patient columns and of the searchable text columns joined
    patient_name_folded text COLLATE "C",
    patient_id_folded text COLLATE "C",
    text_folded text COLLATE "C",
    PRIMARY KEY (job_uid, film_number)
);
CREATE INDEX films_requested ON films (requested_at);
CREATE INDEX films_association ON films (association_id);
CREATE INDEX films_instance ON films (sop_instance_uid);

CREATE TABLE transcripts (
    association_id text COLLATE "C" PRIMARY KEY,
    started text COLLATE "C",
    calling_ae_title text COLLATE "C",
    called_ae_title text COLLATE "C",
    printer text COLLATE "C",
    peer text COLLATE "C",
    messages text COLLATE "C",
    films text COLLATE "C",
    outcome text COLLATE "C",
    verdict text COLLATE "C",
    path text COLLATE "C",
    size text COLLATE "C"
);
CREATE INDEX transcripts_started ON transcripts (started);
