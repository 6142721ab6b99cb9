-- squawk-ignore-file ban-drop-table
DROP TABLE t;
DROP TABLE u;
