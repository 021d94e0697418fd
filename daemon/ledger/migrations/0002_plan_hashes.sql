-- Plans record the two parts their content hash covers: the hash of their rows in plan_rows, and the
-- hash of the bytes of their sealed native plan file (.redress/plans/<dry-run id>.sqlite; NULL for
-- targets that apply through JavaScript). Apply checks the part it writes from.
ALTER TABLE plans ADD COLUMN rows_hash TEXT;
ALTER TABLE plans ADD COLUMN native_file_hash TEXT;
