create index PERSON_NAME on PERSON (NAME);
