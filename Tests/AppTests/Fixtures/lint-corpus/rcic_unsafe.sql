CREATE INDEX i_t_a ON t (a);
