/*
 * bench/seqlag.c -- the sampler of bench/seqlag.sh (built by it with libpq).
 *
 *   seqlag CONNINFO N SECONDS ID_PREFIX WRITE_SQL POLL_SQL OUTFILE
 *
 * Two connections.  Up to N times, one slot every SECONDS / N (a sample
 * starts at its slot, or at once if the previous one ran late) and none
 * started after SECONDS, the writer runs
 * BEGIN, WRITE_SQL with $1 = ID_PREFIX || i, COMMIT, and takes the
 * monotonic time when COMMIT returns; then the reader runs POLL_SQL with
 * the same $1 until it returns a row whose every column is non-null (at
 * once, then every 100 us; an error after 10 s).  One line per sample in
 * OUTFILE, times in microseconds:
 *
 *   i polls lag first_poll commit
 *
 * lag: COMMIT returned -> the answer that showed the row arrived (so never
 * less than one poll's round trip); first_poll: the first poll's round
 * trip, the bare cost of looking; commit: COMMIT's own round trip.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
sleep_until_us(double t)
{
	struct timespec ts;
	int			rc;

	ts.tv_sec = (time_t) (t / 1e6);
	ts.tv_nsec = (long) ((t - ts.tv_sec * 1e6) * 1e3);
	while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
		;
}

static void
fail(PGconn *c, const char *what)
{
	fprintf(stderr, "seqlag: %s: %s", what, c ? PQerrorMessage(c) : "\n");
	exit(1);
}

static PGconn *
connect_or_die(const char *conninfo)
{
	PGconn	   *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		fail(c, "connect");
	return c;
}

static void
exec_ok(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail(c, sql);
	PQclear(r);
}

static void
prepare_ok(PGconn *c, const char *name, const char *sql)
{
	PGresult   *r = PQprepare(c, name, sql, 1, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail(c, sql);
	PQclear(r);
}

/* the poll's answer shows the row: one row or more, the first all non-null */
static int
seen(PGresult *r)
{
	int			j;

	if (PQntuples(r) < 1)
		return 0;
	for (j = 0; j < PQnfields(r); j++)
		if (PQgetisnull(r, 0, j))
			return 0;
	return 1;
}

int
main(int argc, char **argv)
{
	PGconn	   *w,
			   *rd;
	FILE	   *out;
	int			n,
				i;
	double		seconds,
				t_start;
	char		id[256];

	if (argc != 8)
	{
		fprintf(stderr, "usage: seqlag CONNINFO N SECONDS ID_PREFIX WRITE_SQL POLL_SQL OUTFILE\n");
		return 2;
	}
	n = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (n < 1 || seconds < 0)
	{
		fprintf(stderr, "seqlag: bad N or SECONDS\n");
		return 2;
	}
	out = fopen(argv[7], "w");
	if (out == NULL)
	{
		perror(argv[7]);
		return 1;
	}
	w = connect_or_die(argv[1]);
	rd = connect_or_die(argv[1]);
	prepare_ok(w, "w", argv[5]);
	prepare_ok(rd, "p", argv[6]);

	t_start = now_us();
	for (i = 0; i < n; i++)
	{
		const char *params[1];
		PGresult   *r;
		double		t_commit0,
					t_commit,
					t_send,
					t_recv,
					first_poll = 0;
		int			polls = 0;

		sleep_until_us(t_start + i * seconds * 1e6 / n);
		if (now_us() - t_start >= seconds * 1e6)
			break;				/* too late for the rest */
		snprintf(id, sizeof(id), "%s%d", argv[4], i);
		params[0] = id;

		exec_ok(w, "BEGIN");
		r = PQexecPrepared(w, "w", 1, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
			fail(w, "write");
		PQclear(r);
		t_commit0 = now_us();
		exec_ok(w, "COMMIT");
		t_commit = now_us();

		for (;;)
		{
			int			ok;

			t_send = now_us();
			r = PQexecPrepared(rd, "p", 1, params, NULL, NULL, 0);
			t_recv = now_us();
			if (PQresultStatus(r) != PGRES_TUPLES_OK)
				fail(rd, "poll");
			ok = seen(r);
			PQclear(r);
			if (polls++ == 0)
				first_poll = t_recv - t_send;
			if (ok)
				break;
			if (t_recv - t_commit > 10e6)
			{
				fprintf(stderr, "seqlag: %s not readable 10 s after its COMMIT returned\n", id);
				return 1;
			}
			sleep_until_us(now_us() + 100);
		}
		fprintf(out, "%d %d %.0f %.0f %.0f\n", i, polls, t_recv - t_commit, first_poll,
				t_commit - t_commit0);
	}
	if (fclose(out) != 0)
	{
		perror(argv[7]);
		return 1;
	}
	PQfinish(w);
	PQfinish(rd);
	return 0;
}
