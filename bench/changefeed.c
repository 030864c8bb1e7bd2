/*
 * bench/changefeed.c -- a changefeed consumer paging the whole log (built by
 * bench/changefeed.sh with libpq).
 *
 *   changefeed CONNINFO nedb|plain LIM
 *
 * Pages from the start with a cursor, as a consumer does: nedb asks
 * nedb.since(cursor, LIM); plain asks the same columns of a plain table by
 * keyset (seq > cursor ORDER BY seq LIMIT LIM, head_seq from max(seq)).
 * Every value of every row is read (its length summed, so that the client
 * touches what it received), the cursor is the page's last seq, and seqs
 * must be dense; it stops at an empty page or when the cursor reaches
 * head_seq.  Prints "ops seconds bytes".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	const char *sql;
	long long	cursor = -1;
	long long	ops = 0;
	long long	bytes = 0;
	double		t0;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s CONNINFO nedb|plain LIM\n", argv[0]);
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "changefeed: %s", PQerrorMessage(conn));
		return 1;
	}
	if (strcmp(argv[2], "nedb") == 0)
		sql = "SELECT * FROM nedb.since($1, $2)";
	else
		sql = "SELECT p.*, (SELECT max(seq) FROM plain_log) AS head_seq"
			"  FROM plain_log p WHERE p.seq > $1 ORDER BY p.seq LIMIT $2";
	if (PQresultStatus(PQprepare(conn, "page", sql, 2, NULL)) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "changefeed: %s", PQerrorMessage(conn));
		return 1;
	}

	t0 = now();
	for (;;)
	{
		char		cur[32];
		const char *params[2] = {cur, argv[3]};
		PGresult   *res;
		int			n;
		int			nf;
		int			seqcol;
		int			headcol;
		long long	head;

		snprintf(cur, sizeof(cur), "%lld", cursor);
		res = PQexecPrepared(conn, "page", 2, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "changefeed: %s", PQerrorMessage(conn));
			return 1;
		}
		n = PQntuples(res);
		if (n == 0)
		{
			PQclear(res);
			break;
		}
		nf = PQnfields(res);
		seqcol = PQfnumber(res, "seq");
		headcol = PQfnumber(res, "head_seq");
		if (seqcol < 0 || headcol < 0)
		{
			fprintf(stderr, "changefeed: no seq or head_seq column\n");
			return 1;
		}
		for (int i = 0; i < n; i++)
		{
			long long	seq = strtoll(PQgetvalue(res, i, seqcol), NULL, 10);

			if (seq != cursor + 1)
			{
				fprintf(stderr, "changefeed: seq %lld after %lld\n", seq, cursor);
				return 1;
			}
			cursor = seq;
			for (int f = 0; f < nf; f++)
				bytes += PQgetlength(res, i, f);
		}
		ops += n;
		head = strtoll(PQgetvalue(res, 0, headcol), NULL, 10);
		PQclear(res);
		if (cursor >= head)
			break;
	}
	printf("%lld %.3f %lld\n", ops, now() - t0, bytes);
	PQfinish(conn);
	return 0;
}
