-- atlas:txmode none

-- create index "t2_name" to table: "t2"
CREATE INDEX t2_name ON t2 (name);
