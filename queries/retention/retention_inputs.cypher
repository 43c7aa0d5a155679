// retention_inputs: what the retention engine needs of each of the copies $keys (a page of
// `copy_keys`, or the copies an ingest touched); keys of no stored copy are left out.
// Rows: key, current_rule (the rule stored now), region (the copy's, else its system's),
// system (the lowest key of the systems it is stored in), storage_tier, bytes, created_at,
// disposed_at, study, study_date, modality
// (the series', else the study's first), institution, age_at_study, patient, birth_year_month,
// death_date, patient_last_encounter, latest_study_date (latest study of the patient),
// source_study (a study this study was derived from, e.g. by de-identification),
// other_studies (the other studies the copy is a copy of, directly or through a series: their
// facts change with it). A merged patient's ended OF_PATIENT links do not count.
UNWIND $keys AS wanted
MATCH (o:ArchiveObject {key: wanted})
WITH DISTINCT o
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
WITH o, min(sys.key) AS system, min(sys.region_code) AS system_region
OPTIONAL MATCH (o)-[:COPY_OF]->(series:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH o, system, system_region, min(series.modality) AS series_modality,
     coalesce(min(parent.key), min(direct.key)) AS study_key,
     collect(DISTINCT parent.key) + collect(DISTINCT direct.key) AS linked
OPTIONAL MATCH (study:Study {key: study_key})
OPTIONAL MATCH (study)-[:DERIVED_FROM]->(source:Study)
WITH o, system, system_region, series_modality, study, linked, min(source.key) AS source_study
OPTIONAL MATCH (study)-[link:OF_PATIENT]->(p:Patient) WHERE link.valid_to IS NULL
WITH o, system, system_region, series_modality, study, linked, source_study,
     min(p.key) AS patient_key
OPTIONAL MATCH (patient:Patient {key: patient_key})
OPTIONAL MATCH (patient)<-[other_link:OF_PATIENT]-(other:Study)
WHERE other_link.valid_to IS NULL
WITH o, system, system_region, series_modality, study, linked, source_study, patient,
     max(other.study_date) AS latest_study
RETURN o.key AS key,
       o.retention_policy_id AS current_rule,
       coalesce(o.region_code, system_region) AS region,
       system,
       o.storage_tier AS storage_tier,
       o.bytes AS bytes,
       o.created_at AS created_at,
       o.disposed_at AS disposed_at,
       study.key AS study,
       source_study,
       COLLECT { UNWIND linked AS other WITH DISTINCT other WHERE other <> study.key
                 RETURN other ORDER BY other } AS other_studies,
       study.study_date AS study_date,
       coalesce(series_modality, head(study.modalities)) AS modality,
       study.institution AS institution,
       study.patient_age_at_study AS age_at_study,
       patient.key AS patient,
       patient.birth_year_month AS birth_year_month,
       patient.death_date AS death_date,
       patient.last_encounter AS patient_last_encounter,
       latest_study AS latest_study_date
ORDER BY key
