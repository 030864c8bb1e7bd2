/*
 * state.c
 *	  The state of `nedb verify --state FILE`: what was verified last time.
 *
 * FILE is text:
 *
 *   nedb-verify-state 1
 *   tree_size <n>
 *   root <hex>
 *   head <hex>
 *   verified_at <UTC time>
 *   frontier <level> <hex>       (one per set bit of n)
 *
 * The frontier (the perfect subtree roots along the tree's right edge) is
 * what lets the next run extend the tree with the new ops alone and
 * compare the root it gets with the server's; it must hash to root, so a
 * damaged file is noticed.  FILE.ops keeps the first 8 bytes of every op
 * hash verified: not to decide (the root does), but to name the first
 * rewritten seq when a later run finds the history changed.
 */
#include "nedb_cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
state_corrupt(const char *path, const char *why)
{
	cli_error("state file \"%s\" is damaged: %s (move it away to start over)", path, why);
	exit(EXIT_USAGE);
}

bool
state_load(const char *path, VerifyState *st)
{
	FILE	   *f = fopen(path, "r");
	char		line[512];
	bool		have_size = false,
				have_root = false,
				have_head = false;
	Frontier	check;
	uint8		r[HASH_LEN];

	if (f == NULL)
	{
		if (errno == ENOENT)
			return false;
		cli_error("could not open state file \"%s\": %m", path);
		exit(EXIT_USAGE);
	}
	memset(st, 0, sizeof(*st));
	if (fgets(line, sizeof(line), f) == NULL || strcmp(line, "nedb-verify-state 1\n") != 0)
		state_corrupt(path, "it does not start with \"nedb-verify-state 1\"");
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char		hex[HEX_LEN + 2];
		long long	n;
		int			level;

		if (sscanf(line, "tree_size %lld", &n) == 1 && n >= 0)
		{
			st->size = n;
			have_size = true;
		}
		else if (sscanf(line, "root %65s", hex) == 1 && from_hex(hex, strlen(hex), st->root, HASH_LEN))
			have_root = true;
		else if (sscanf(line, "head %65s", hex) == 1 && from_hex(hex, strlen(hex), st->head, HASH_LEN))
			have_head = true;
		else if (sscanf(line, "verified_at %39s", st->verified_at) == 1)
			continue;
		else if (sscanf(line, "frontier %d %65s", &level, hex) == 2 && level >= 0 &&
				 level < MAX_LEVEL && from_hex(hex, strlen(hex), st->fr.node[level], HASH_LEN))
			continue;
		else
			state_corrupt(path, "a line is not understood");
	}
	fclose(f);
	if (!have_size || !have_root || !have_head)
		state_corrupt(path, "tree_size, root or head is missing");
	st->fr.size = st->size;
	check = st->fr;
	fr_root(&check, r);
	if (memcmp(r, st->root, HASH_LEN) != 0)
		state_corrupt(path, "its frontier does not hash to its root");
	return true;
}

static char *
ops_path(const char *path)
{
	char	   *p = pg_malloc(strlen(path) + 5);

	sprintf(p, "%s.ops", path);
	return p;
}

uint8 *
state_load_prefixes(const char *path, int64 size)
{
	char	   *p = ops_path(path);
	int			fd = open(p, O_RDONLY);
	size_t		want = (size_t) size * OP_PREFIX_LEN;
	uint8	   *buf = pg_malloc(want + 1);
	size_t		got = 0;

	if (fd < 0)
	{
		pg_free(buf);
		pg_free(p);
		return NULL;
	}
	while (got < want)
	{
		ssize_t		n = read(fd, buf + got, want - got);

		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	pg_free(p);
	if (got != want)
	{
		pg_free(buf);
		return NULL;
	}
	return buf;
}

static void
write_all(int fd, const void *data, size_t len, const char *path)
{
	const char *p = data;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n <= 0)
		{
			cli_error("could not write \"%s\": %m", path);
			exit(EXIT_USAGE);
		}
		p += n;
		len -= n;
	}
}

void
state_save(const char *path, const VerifyState *st, int64 keep, const uint8 *prefixes)
{
	char	   *opsp = ops_path(path);
	char	   *tmp = pg_malloc(strlen(path) + 5);
	int			fd;
	Buf			b;
	char		hex[HEX_LEN + 1];
	char		line[128];
	time_t		now = time(NULL);
	struct tm	tm;
	struct stat sb;

	/*
	 * FILE.ops first, then FILE by rename: a crash in between leaves extra
	 * prefixes after FILE's tree_size, which the next run cuts off.
	 */
	fd = open(opsp, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || fstat(fd, &sb) != 0)
	{
		cli_error("could not write \"%s\": %m", opsp);
		exit(EXIT_USAGE);
	}
	if (sb.st_size < (off_t) keep * OP_PREFIX_LEN)
	{
		/*
		 * It lost the prefixes of ops verified before: keep none rather
		 * than wrong ones (a --full run writes them all again).
		 */
		fprintf(stderr, "%s: \"%s\" is shorter than the verified log: emptied "
				"(run verify --full to name rewritten seqs again)\n", progname, opsp);
		keep = st->size;
		if (ftruncate(fd, 0) != 0)
		{
			cli_error("could not write \"%s\": %m", opsp);
			exit(EXIT_USAGE);
		}
	}
	else if (ftruncate(fd, (off_t) keep * OP_PREFIX_LEN) != 0 || lseek(fd, 0, SEEK_END) < 0)
	{
		cli_error("could not write \"%s\": %m", opsp);
		exit(EXIT_USAGE);
	}
	write_all(fd, prefixes, (size_t) (st->size - keep) * OP_PREFIX_LEN, opsp);
	if (fsync(fd) != 0 || close(fd) != 0)
	{
		cli_error("could not write \"%s\": %m", opsp);
		exit(EXIT_USAGE);
	}

	buf_init(&b);
	buf_puts(&b, "nedb-verify-state 1\n");
	snprintf(line, sizeof(line), "tree_size " INT64_FORMAT "\n", st->size);
	buf_puts(&b, line);
	to_hex(st->root, HASH_LEN, hex);
	buf_puts(&b, "root ");
	buf_puts(&b, hex);
	to_hex(st->head, HASH_LEN, hex);
	buf_puts(&b, "\nhead ");
	buf_puts(&b, hex);
	gmtime_r(&now, &tm);
	strftime(line, sizeof(line), "\nverified_at %Y-%m-%dT%H:%M:%SZ\n", &tm);
	buf_puts(&b, line);
	for (int level = MAX_LEVEL - 1; level >= 0; level--)
	{
		if (!(st->size & ((int64) 1 << level)))
			continue;
		to_hex(st->fr.node[level], HASH_LEN, hex);
		snprintf(line, sizeof(line), "frontier %d %s\n", level, hex);
		buf_puts(&b, line);
	}
	sprintf(tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
	{
		cli_error("could not write \"%s\": %m", tmp);
		exit(EXIT_USAGE);
	}
	write_all(fd, b.data, b.len, tmp);
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
	{
		cli_error("could not write \"%s\": %m", path);
		exit(EXIT_USAGE);
	}
	buf_free(&b);
	pg_free(tmp);
	pg_free(opsp);
}
