/*
 * keyfile.c
 *	  Secrets read from files outside the database.
 *
 * A key never reaches the database as a SQL literal (it would land in the
 * server log, pg_stat_statements and the client's history): a superuser-only
 * GUC names a file, which must be readable by its owner alone, as Postgres
 * asks of ssl_key_file.
 */
#include "postgres.h"

#include <sys/stat.h>

#include "storage/fd.h"
#include "utils/builtins.h"

#include "keyfile.h"

/* Python's bytes.strip() set, which the reference applies to NEDB_TMK_FILE */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

size_t
keyfile_read(const char *path, const char *guc, const char *what,
			 char *buf, size_t size)
{
	FILE	   *f;
	struct stat st;
	size_t		len;
	size_t		start = 0;

	if (path == NULL || path[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no %s is configured", what),
				 errhint("Set %s to the file that holds it.", guc)));
	f = AllocateFile(path, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open %s file \"%s\": %m", what, path)));
	if (fstat(fileno(f), &st) != 0)
	{
		int			save = errno;

		FreeFile(f);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat %s file \"%s\": %m", what, path)));
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		FreeFile(f);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s file \"%s\" must be a regular file readable by its owner alone", what, path),
				 errhint("chmod 0600 it.")));
	}
	len = fread(buf, 1, size - 1, f);
	if (ferror(f))
	{
		FreeFile(f);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read %s file \"%s\": %m", what, path)));
	}
	/* more than fits: not a key file */
	if (len == size - 1 && fgetc(f) != EOF)
	{
		FreeFile(f);
		explicit_bzero(buf, size);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s file \"%s\" is too long", what, path),
				 errdetail("A key file holds at most %zu bytes.", size - 1)));
	}
	FreeFile(f);
	while (start < len && is_space(buf[start]))
		start++;
	while (len > start && is_space(buf[len - 1]))
		len--;
	memmove(buf, buf + start, len - start);
	memset(buf + (len - start), 0, size - (len - start));
	return len - start;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
hex_to_bytes(const char *s, size_t len, uint8 *out, size_t n)
{
	if (len != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		int			hi = hex_value(s[2 * i]),
					lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

char *
bytes_to_hex(const uint8 *b, size_t n)
{
	char	   *s = palloc(2 * n + 1);

	s[hex_encode((const char *) b, n, s)] = '\0';
	return s;
}
