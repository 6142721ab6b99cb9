DROP INDEX i_t_a;
