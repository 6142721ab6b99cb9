CREATE TABLE n (a integer);
CREATE INDEX i_n_a ON n (a);
