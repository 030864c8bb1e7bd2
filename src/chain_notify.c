/*
 * chain_notify.c
 *	  The notification a writing transaction sends on channel nedb_ops.
 *
 * The notification is queued at pre-commit, after the staged puts are
 * appended (staging.c's callback runs first), so it says what the
 * transaction wrote: {"seq": its last seq, "ops": how many, "colls":
 * {collection: ops, ...}}.  Collections are listed while the payload stays
 * under Postgres's 8000-byte limit; the rest is counted in "more_colls".  A
 * rolled-back subtransaction's ops are taken out.  A transaction that
 * PREPAREs sends nothing (Postgres refuses to PREPARE one that notified):
 * listeners see its ops with the next notification.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "chain_notify.h"
#include "repl.h"

#define NOTIFY_PAYLOAD_MAX 7900 /* Postgres refuses 8000 bytes and more */

typedef struct NotifyOp
{
	char	   *coll;			/* NULL: an op of no collection */
	int64		seq;
	SubTransactionId sub;
} NotifyOp;

/* the transaction's ops, in order: a suffix goes with a rolled-back subxact */
static NotifyOp *ops = NULL;
static int	n_ops = 0;
static int	max_ops = 0;

void
chain_notify_op(const char *coll, int64 seq)
{
	MemoryContext old;

	if (!nedb_notify)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (n_ops == max_ops)
	{
		max_ops = max_ops ? max_ops * 2 : 16;
		ops = ops ? repalloc(ops, sizeof(NotifyOp) * max_ops) :
			palloc(sizeof(NotifyOp) * max_ops);
	}
	/* consecutive ops of one collection share its name */
	ops[n_ops].coll = coll == NULL ? NULL :
		(n_ops > 0 && ops[n_ops - 1].coll && strcmp(ops[n_ops - 1].coll, coll) == 0) ?
		ops[n_ops - 1].coll : pstrdup(coll);
	ops[n_ops].seq = seq;
	ops[n_ops].sub = GetCurrentSubTransactionId();
	n_ops++;
	MemoryContextSwitchTo(old);
}

static int
cmp_coll(const void *a, const void *b)
{
	const char *x = ((const NotifyOp *) a)->coll;
	const char *y = ((const NotifyOp *) b)->coll;

	if (x == NULL || y == NULL)
		return (x == NULL) - (y == NULL);
	return strcmp(x, y);
}

static void
send_notification(void)
{
	StringInfoData p;
	int			more = 0;
	bool		first = true;

	initStringInfo(&p);
	appendStringInfo(&p, "{\"seq\": " INT64_FORMAT ", \"ops\": %d, \"colls\": {",
					 ops[n_ops - 1].seq, n_ops);
	/* count per collection: sorted, so equal names are neighbours */
	qsort(ops, n_ops, sizeof(NotifyOp), cmp_coll);
	for (int i = 0; i < n_ops;)
	{
		int			j = i;
		StringInfoData one;

		while (j < n_ops && cmp_coll(&ops[i], &ops[j]) == 0)
			j++;
		if (ops[i].coll != NULL)
		{
			initStringInfo(&one);
			if (!first)
				appendStringInfoString(&one, ", ");
			escape_json(&one, ops[i].coll);
			appendStringInfo(&one, ": %d", j - i);
			if (more == 0 && p.len + one.len + 64 < NOTIFY_PAYLOAD_MAX)
			{
				appendBinaryStringInfo(&p, one.data, one.len);
				first = false;
			}
			else
				more++;
			pfree(one.data);
		}
		i = j;
	}
	appendStringInfoChar(&p, '}');
	if (more > 0)
		appendStringInfo(&p, ", \"more_colls\": %d", more);
	appendStringInfoChar(&p, '}');
	Async_Notify(NEDB_NOTIFY_CHANNEL, p.data);
}

static void
notify_reset(void)
{
	ops = NULL;					/* in TopTransactionContext */
	n_ops = max_ops = 0;
}

static void
notify_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (n_ops > 0 && nedb_notify)
				send_notification();
			break;
		case XACT_EVENT_PRE_PREPARE:
			break;
		default:
			/* commit, abort, prepare: the transaction's state is gone */
			notify_reset();
			break;
	}
}

static void
notify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	/* subtransaction ids only grow: its ops and its children's are a suffix */
	if (event == SUBXACT_EVENT_ABORT_SUB)
		while (n_ops > 0 && ops[n_ops - 1].sub >= mySubid)
			n_ops--;
}

/* before staging.c's: its pre-commit appends must come first (newest first) */
void
nedb_chain_notify_init(void)
{
	RegisterXactCallback(notify_xact_callback, NULL);
	RegisterSubXactCallback(notify_subxact_callback, NULL);
}
