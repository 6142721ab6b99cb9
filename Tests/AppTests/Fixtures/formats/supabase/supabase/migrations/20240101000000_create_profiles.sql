-- Profiles, as a Supabase project keeps them.
create table profiles (
  id bigint primary key,
  username text unique,
  updated_at timestamp with time zone
);

comment on table profiles is 'Public profiles; one per user';

-- A function whose body holds ;, between $$.
create function set_updated_at() returns trigger language plpgsql as $$
begin
  new.updated_at = now();
  return new;
end;
$$;
-- a trailing comment is a statement of its own to the Supabase CLI
