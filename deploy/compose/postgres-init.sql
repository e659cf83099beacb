-- Each service owns its database (no service reads another's tables).
CREATE DATABASE ingest OWNER vigie;
CREATE DATABASE prober OWNER vigie;
CREATE DATABASE notifier OWNER vigie;
