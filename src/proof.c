/*
 * proof.c
 *	  Log proofs: digest, inclusion and consistency proofs over the Merkle
 *	  tree of log_tree.c, their verifiers, and the reference's fold proof.
 *
 * Proofs follow RFC 6962 (PATH and SUBPROOF); the verifiers are RFC 9162's
 * algorithms (§2.1.3.2, §2.1.4.2), which bind the leaf index and both tree
 * sizes, so a proof for another seq, another tree size, or with entries
 * dropped or added does not verify.  Every node a proof needs is a perfect
 * subtree root stored in nedb.log_tree or is hashed from O(log n) of them;
 * they are read with one index scan.  The verifiers are pure functions of
 * their arguments: they never read the log.
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "chain.h"
#include "log_tree.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_digest);
PG_FUNCTION_INFO_V1(nedb_proof);
PG_FUNCTION_INFO_V1(nedb_consistency);
PG_FUNCTION_INFO_V1(nedb_verify_inclusion);
PG_FUNCTION_INFO_V1(nedb_verify_consistency);
PG_FUNCTION_INFO_V1(nedb_fold_proof);
PG_FUNCTION_INFO_V1(nedb_verify_fold_proof);
PG_FUNCTION_INFO_V1(nedb_verify_tree);

/* a proof is at most this long: one entry per level of a 2^63-leaf tree */
#define MAX_PATH 64

/* the two statements every proof runs, prepared once per backend */
static SPIPlanPtr plan_nodes = NULL;
static SPIPlanPtr plan_op_hash = NULL;

static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid type)
{
	Oid			types[2] = {type, type};

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/* ------------------------------------------------------------------------
 * Reading tree nodes: a first pass notes the rows a computation needs, one
 * query fetches them, a second pass computes.  A node is entry L of row
 * ((j + 1) << L) - 1 of nedb.log_tree; rows exist for odd seqs only, and an
 * even row number can only mean a leaf: H(0x00 || that op's hash).
 * ------------------------------------------------------------------------ */

typedef struct TreeRead
{
	bool		collecting;
	int64	   *rows;			/* row seqs needed (pass 1) / fetched (pass 2) */
	bytea	  **nodes;			/* fetched: nodes (odd) or the op's hash (even) */
	int			n;
	int			max;
} TreeRead;

static void
tr_init(TreeRead *t)
{
	t->collecting = true;
	t->n = 0;
	t->max = 64;
	t->rows = palloc(sizeof(int64) * t->max);
	t->nodes = NULL;
}

static bool
tr_noted(TreeRead *t, int64 row)
{
	for (int i = 0; i < t->n; i++)
		if (t->rows[i] == row)
			return true;
	return false;
}

static void
node_get(TreeRead *t, int level, int64 idx, uint8 *out)
{
	int64		row = ((idx + 1) << level) - 1;

	if (t->collecting)
	{
		if (!tr_noted(t, row))
		{
			if (t->n == t->max)
			{
				t->max *= 2;
				t->rows = repalloc(t->rows, sizeof(int64) * t->max);
			}
			t->rows[t->n++] = row;
		}
		memset(out, 0, NEDB_HASH_LEN);
		return;
	}
	for (int i = 0; i < t->n; i++)
	{
		if (t->rows[i] != row || t->nodes[i] == NULL)
			continue;
		if (row % 2 == 0)
		{
			if (VARSIZE_ANY_EXHDR(t->nodes[i]) == NEDB_HASH_LEN)
			{
				lt_leaf_hash((const uint8 *) VARDATA_ANY(t->nodes[i]), out);
				return;
			}
		}
		else if (VARSIZE_ANY_EXHDR(t->nodes[i]) >= (level + 1) * NEDB_HASH_LEN)
		{
			memcpy(out, VARDATA_ANY(t->nodes[i]) + level * NEDB_HASH_LEN, NEDB_HASH_LEN);
			return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the log tree lacks the level %d node of op " INT64_FORMAT, level, row),
			 errhint("nedb.log_tree must hold a row for every odd seq of nedb.ops.")));
}

/* fetch the noted rows (storage session open); switch to computing */
static void
tr_fetch(TreeRead *t, MemoryContext cxt)
{
	Datum	   *odd = palloc(sizeof(Datum) * Max(t->n, 1));
	Datum	   *even = palloc(sizeof(Datum) * Max(t->n, 1));
	int			n_odd = 0;
	int			n_even = 0;
	Datum		args[2];
	MemoryContext old_cxt = CurrentMemoryContext;

	for (int i = 0; i < t->n; i++)
	{
		if (t->rows[i] % 2)
			odd[n_odd++] = Int64GetDatum(t->rows[i]);
		else
			even[n_even++] = Int64GetDatum(t->rows[i]);
	}
	args[0] = PointerGetDatum(construct_array(odd, n_odd, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(even, n_even, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	t->nodes = palloc0(sizeof(bytea *) * Max(t->n, 1));
	if (SPI_execute_plan(kept_plan(&plan_nodes,
								   "SELECT seq, nodes FROM nedb.log_tree WHERE seq = ANY ($1)"
								   " UNION ALL SELECT seq, hash FROM nedb.ops WHERE seq = ANY ($2)",
								   2, INT8ARRAYOID), args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read nedb.log_tree");
	MemoryContextSwitchTo(old_cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);

		for (int i = 0; i < t->n; i++)
			if (t->rows[i] == seq && !isnull)
			{
				MemoryContext old = MemoryContextSwitchTo(cxt);

				t->nodes[i] = DatumGetByteaPCopy(d);
				MemoryContextSwitchTo(old);
			}
	}
	SPI_freetuptable(SPI_tuptable);
	t->collecting = false;
}

static int64
largest_pow2_below(int64 n)
{
	int64		k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static bool
is_pow2(int64 n)
{
	return n > 0 && (n & (n - 1)) == 0;
}

static int
log2_of(int64 n)
{
	int			l = 0;

	while (((int64) 1 << l) < n)
		l++;
	return l;
}

/* MTH(D[a:b]) */
static void
mth(TreeRead *t, int64 a, int64 b, uint8 *out)
{
	int64		n = b - a;

	if (is_pow2(n))
	{
		int			level = log2_of(n);

		node_get(t, level, a >> level, out);
	}
	else
	{
		int64		k = largest_pow2_below(n);
		uint8		l[NEDB_HASH_LEN];
		uint8		r[NEDB_HASH_LEN];

		mth(t, a, a + k, l);
		mth(t, a + k, b, r);
		if (t->collecting)
			memset(out, 0, NEDB_HASH_LEN);
		else
			lt_node_hash(l, r, out);
	}
}

/* RFC 6962 PATH(m, D[a:b]), appended to path */
static void
inclusion_path(TreeRead *t, int64 m, int64 a, int64 b, uint8 *path, int *len)
{
	int64		n = b - a;
	int64		k;

	if (n <= 1)
		return;
	k = largest_pow2_below(n);
	if (m < k)
	{
		inclusion_path(t, m, a, a + k, path, len);
		mth(t, a + k, b, path + (*len)++ * NEDB_HASH_LEN);
	}
	else
	{
		inclusion_path(t, m - k, a + k, b, path, len);
		mth(t, a, a + k, path + (*len)++ * NEDB_HASH_LEN);
	}
}

/* RFC 6962 SUBPROOF(m, D[a:b], complete), appended to path */
static void
subproof(TreeRead *t, int64 m, int64 a, int64 b, bool complete, uint8 *path, int *len)
{
	int64		n = b - a;
	int64		k;

	if (m == n)
	{
		if (!complete)
			mth(t, a, b, path + (*len)++ * NEDB_HASH_LEN);
		return;
	}
	k = largest_pow2_below(n);
	if (m <= k)
	{
		subproof(t, m, a, a + k, complete, path, len);
		mth(t, a + k, b, path + (*len)++ * NEDB_HASH_LEN);
	}
	else
	{
		subproof(t, m - k, a + k, b, false, path, len);
		mth(t, a, a + k, path + (*len)++ * NEDB_HASH_LEN);
	}
}

/* ------------------------------------------------------------------------
 * Reading the log's head
 * ------------------------------------------------------------------------ */

/* the current last seq (-1 if empty) */
static int64
current_seq(void)
{
	char		hex[NEDB_HEX_LEN + 1];

	return chain_read_head(hex);
}

/* the hash of op seq (which must exist) */
static void
op_hash_at(int64 seq, uint8 *out)
{
	Datum		arg = Int64GetDatum(seq);
	bool		isnull;
	bytea	   *h;

	if (SPI_execute_plan(kept_plan(&plan_op_hash, "SELECT hash FROM nedb.ops WHERE seq = $1", 1, INT8OID),
						 &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("op " INT64_FORMAT " is missing from the log", seq)));
	h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(h) != NEDB_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the hash of op " INT64_FORMAT " is not %d bytes", seq, NEDB_HASH_LEN)));
	memcpy(out, VARDATA_ANY(h), NEDB_HASH_LEN);
	SPI_freetuptable(SPI_tuptable);
}

/* a tree seq argument: NULL = the current one; must lie in [lo, current] */
static int64
tree_seq_arg(FunctionCallInfo fcinfo, int argno, int64 current, int64 lo, const char *what)
{
	int64		s = PG_ARGISNULL(argno) ? current : PG_GETARG_INT64(argno);

	if (s < lo || s > current)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s " INT64_FORMAT " is not in the log", what, s),
				 errdetail("The log holds seqs 0 to " INT64_FORMAT ".", current)));
	return s;
}

/* the published root of the tree of the first size ops */
static void
root_of(int64 size, uint8 *root, MemoryContext cxt)
{
	TreeRead	t;
	uint8		m[NEDB_HASH_LEN];

	if (size == 0)
		lt_empty_root(m);
	else
	{
		tr_init(&t);
		mth(&t, 0, size, m);
		tr_fetch(&t, cxt);
		mth(&t, 0, size, m);
	}
	lt_bound_root(size, m, root);
}

static void
push_hex(JsonbParseState **st, const char *k, const uint8 *hash)
{
	JsonbValue	v;
	char	   *hex = palloc(NEDB_HEX_LEN + 1);

	hash_to_hex(hash, hex);
	if (k)
		nedb_push_key(st, k);
	v.type = jbvString;
	v.val.string.val = hex;
	v.val.string.len = NEDB_HEX_LEN;
	pushJsonbValue(st, k ? WJB_VALUE : WJB_ELEM, &v);
}

static void
push_path(JsonbParseState **st, const uint8 *path, int len)
{
	nedb_push_key(st, "path");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < len; i++)
		push_hex(st, NULL, path + i * NEDB_HASH_LEN);
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

static text *
hex_text(const uint8 *hash)
{
	char		hex[NEDB_HEX_LEN + 1];

	hash_to_hex(hash, hex);
	return cstring_to_text(hex);
}

/* ------------------------------------------------------------------------
 * SQL: digest, proof, consistency
 * ------------------------------------------------------------------------ */

/* (seq, head, root) now, or of the log as it was at seq as_of */
Datum
nedb_digest(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	NedbSession s;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int64		cur;
	int64		seq;
	uint8		head[NEDB_HASH_LEN];
	uint8		root[NEDB_HASH_LEN];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "nedb.digest must return a record");
	nedb_begin(&s);
	cur = current_seq();
	seq = tree_seq_arg(fcinfo, 0, cur, -1, "seq");
	if (seq >= 0)
		op_hash_at(seq, head);
	else
		memset(head, 0, NEDB_HASH_LEN);
	root_of(seq + 1, root, caller);
	nedb_end(&s);

	values[0] = Int64GetDatum(seq);
	values[1] = PointerGetDatum(hex_text(head));
	values[2] = PointerGetDatum(hex_text(root));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* {seq, hash, tree_seq, path, root}: op seq is in the tree of ops 0..tree_seq */
Datum
nedb_proof(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	NedbSession s;
	int64		cur;
	int64		seq;
	int64		tree_seq;
	uint8		hash[NEDB_HASH_LEN];
	uint8		leaf[NEDB_HASH_LEN];
	uint8		stored_leaf[NEDB_HASH_LEN];
	uint8		root[NEDB_HASH_LEN];
	uint8		path[MAX_PATH * NEDB_HASH_LEN];
	int			len = 0;
	TreeRead	t;
	JsonbParseState *st = NULL;
	Jsonb	   *res;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seq must not be NULL")));
	seq = PG_GETARG_INT64(0);
	nedb_begin(&s);
	cur = current_seq();
	tree_seq = tree_seq_arg(fcinfo, 1, cur, 0, "tree_seq");
	if (seq < 0 || seq > tree_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("op " INT64_FORMAT " is not in the tree of ops 0 to " INT64_FORMAT, seq, tree_seq)));
	op_hash_at(seq, hash);

	tr_init(&t);
	inclusion_path(&t, seq, 0, tree_seq + 1, path, &len);
	mth(&t, 0, tree_seq + 1, root);
	node_get(&t, 0, seq, stored_leaf);
	tr_fetch(&t, caller);
	len = 0;
	inclusion_path(&t, seq, 0, tree_seq + 1, path, &len);
	mth(&t, 0, tree_seq + 1, root);
	node_get(&t, 0, seq, stored_leaf);
	nedb_end(&s);

	lt_bound_root(tree_seq + 1, root, root);
	lt_leaf_hash(hash, leaf);
	if (memcmp(leaf, stored_leaf, NEDB_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the log tree's leaf for op " INT64_FORMAT " does not match the op's hash", seq)));

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_int(&st, "seq", seq);
	push_hex(&st, "hash", hash);
	nedb_push_int(&st, "tree_seq", tree_seq);
	push_path(&st, path, len);
	push_hex(&st, "root", root);
	res = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	PG_RETURN_JSONB_P(res);
}

/* {old_seq, tree_seq, old_root, root, path}: the log at old_seq is a prefix */
Datum
nedb_consistency(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	NedbSession s;
	int64		cur;
	int64		old_seq;
	int64		tree_seq;
	uint8		old_root[NEDB_HASH_LEN];
	uint8		root[NEDB_HASH_LEN];
	uint8		path[MAX_PATH * NEDB_HASH_LEN];
	int			len = 0;
	TreeRead	t;
	JsonbParseState *st = NULL;
	Jsonb	   *res;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("old_seq must not be NULL")));
	old_seq = PG_GETARG_INT64(0);
	nedb_begin(&s);
	cur = current_seq();
	tree_seq = tree_seq_arg(fcinfo, 1, cur, 0, "tree_seq");
	if (old_seq < 0 || old_seq > tree_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old_seq " INT64_FORMAT " is not in the log of ops 0 to " INT64_FORMAT,
						old_seq, tree_seq),
				 errhint("A consistency proof goes from an older tree to a newer one, both non-empty.")));

	tr_init(&t);
	subproof(&t, old_seq + 1, 0, tree_seq + 1, true, path, &len);
	mth(&t, 0, old_seq + 1, old_root);
	mth(&t, 0, tree_seq + 1, root);
	tr_fetch(&t, caller);
	len = 0;
	subproof(&t, old_seq + 1, 0, tree_seq + 1, true, path, &len);
	mth(&t, 0, old_seq + 1, old_root);
	mth(&t, 0, tree_seq + 1, root);
	nedb_end(&s);

	/*
	 * RFC 6962 leaves out the old tree's MTH when it is a perfect subtree,
	 * since the verifier knows it; ours knows only the bound root, so the
	 * proof starts with it (and the verifier checks it against that root).
	 */
	if (old_seq < tree_seq && ((old_seq + 1) & old_seq) == 0)
	{
		memmove(path + NEDB_HASH_LEN, path, (Size) len * NEDB_HASH_LEN);
		memcpy(path, old_root, NEDB_HASH_LEN);
		len++;
	}
	lt_bound_root(old_seq + 1, old_root, old_root);
	lt_bound_root(tree_seq + 1, root, root);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_int(&st, "old_seq", old_seq);
	nedb_push_int(&st, "tree_seq", tree_seq);
	push_hex(&st, "old_root", old_root);
	push_hex(&st, "root", root);
	push_path(&st, path, len);
	res = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	PG_RETURN_JSONB_P(res);
}

/* ------------------------------------------------------------------------
 * Verifiers: pure functions; anything malformed is simply not valid
 * ------------------------------------------------------------------------ */

static bool
text_hash(text *t, uint8 *out)
{
	char		hex[NEDB_HEX_LEN + 1];

	if (VARSIZE_ANY_EXHDR(t) != NEDB_HEX_LEN)
		return false;
	memcpy(hex, VARDATA_ANY(t), NEDB_HEX_LEN);
	hex[NEDB_HEX_LEN] = '\0';
	return hex_to_hash(hex, out);
}

/* an integral JSON number that fits int64 (no fraction, no exponent games) */
static bool
jv_int64(JsonbValue *v, int64 *out)
{
	char	   *s;
	char	   *p;

	if (v == NULL || v->type != jbvNumeric)
		return false;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	p = s + (*s == '-');
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
		return false;
	errno = 0;
	*out = strtoi64(s, &p, 10);
	return errno == 0 && *p == '\0';
}

/* the "path" array of a proof: up to MAX_PATH hashes; false if malformed */
static bool
jv_path(Jsonb *proof, uint8 *path, int *len)
{
	JsonbValue *arr = nedb_member(&proof->root, "path");
	int			n;

	if (arr == NULL || arr->type != jbvBinary || !JsonContainerIsArray(arr->val.binary.data) ||
		JsonContainerIsScalar(arr->val.binary.data))
		return false;
	n = JsonContainerSize(arr->val.binary.data);
	if (n > MAX_PATH)
		return false;
	for (int i = 0; i < n; i++)
		if (!nedb_json_hash(getIthJsonbValueFromContainer(arr->val.binary.data, i),
					 path + i * NEDB_HASH_LEN))
			return false;
	*len = n;
	return true;
}

static bool
proof_object(Jsonb *proof)
{
	return JB_ROOT_IS_OBJECT(proof) && !JB_ROOT_IS_SCALAR(proof);
}

/* RFC 9162 §2.1.3.2 */
static bool
check_inclusion(int64 index, int64 size, const uint8 *leaf, const uint8 *path, int len,
				const uint8 *root)
{
	int64		fn = index;
	int64		sn = size - 1;
	uint8		r[NEDB_HASH_LEN];

	if (index < 0 || size <= 0 || index >= size)
		return false;
	memcpy(r, leaf, NEDB_HASH_LEN);
	for (int i = 0; i < len; i++)
	{
		const uint8 *p = path + i * NEDB_HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			lt_node_hash(p, r, r);
			if (!(fn & 1))
				while (!((fn & 1) || fn == 0))
				{
					fn >>= 1;
					sn >>= 1;
				}
		}
		else
			lt_node_hash(r, p, r);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return false;
	lt_bound_root(size, r, r);
	return memcmp(r, root, NEDB_HASH_LEN) == 0;
}

/* RFC 9162 §2.1.4.2 */
static bool
check_consistency(int64 first, int64 second, const uint8 *first_root,
				  const uint8 *second_root, const uint8 *proof, int len)
{
	const uint8 *path = proof;
	int64		fn;
	int64		sn;
	uint8		fr[NEDB_HASH_LEN];
	uint8		sr[NEDB_HASH_LEN];

	if (first <= 0 || second < first)
		return false;
	if (first == second)
		return len == 0 && memcmp(first_root, second_root, NEDB_HASH_LEN) == 0;
	/* our proofs always start with the seed (the old MTH when perfect) */
	if (len == 0)
		return false;
	fn = first - 1;
	sn = second - 1;
	while (fn & 1)
	{
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, path, NEDB_HASH_LEN);
	memcpy(sr, path, NEDB_HASH_LEN);
	for (int i = 1; i < len; i++)
	{
		const uint8 *c = path + i * NEDB_HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			lt_node_hash(c, fr, fr);
			lt_node_hash(c, sr, sr);
			if (!(fn & 1))
				while (!((fn & 1) || fn == 0))
				{
					fn >>= 1;
					sn >>= 1;
				}
		}
		else
			lt_node_hash(sr, c, sr);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return false;
	lt_bound_root(first, fr, fr);
	lt_bound_root(second, sr, sr);
	return memcmp(fr, first_root, NEDB_HASH_LEN) == 0 &&
		memcmp(sr, second_root, NEDB_HASH_LEN) == 0;
}

/*
 * verify_inclusion(proof, tree_seq, root): is the op {seq, hash} of the
 * proof in the tree of ops 0..tree_seq whose root (from a trusted digest) is
 * root?
 */
Datum
nedb_verify_inclusion(PG_FUNCTION_ARGS)
{
	Jsonb	   *proof = PG_GETARG_JSONB_P(0);
	int64		tree_seq = PG_GETARG_INT64(1);
	uint8		root[NEDB_HASH_LEN];
	uint8		hash[NEDB_HASH_LEN];
	uint8		leaf[NEDB_HASH_LEN];
	uint8		path[MAX_PATH * NEDB_HASH_LEN];
	int			len;
	int64		seq;
	int64		proof_tree_seq;

	if (!text_hash(PG_GETARG_TEXT_PP(2), root) || !proof_object(proof))
		PG_RETURN_BOOL(false);
	if (!jv_int64(nedb_member(&proof->root, "seq"), &seq) ||
		!jv_int64(nedb_member(&proof->root, "tree_seq"), &proof_tree_seq) ||
		!nedb_json_hash(nedb_member(&proof->root, "hash"), hash) ||
		!jv_path(proof, path, &len))
		PG_RETURN_BOOL(false);
	if (proof_tree_seq != tree_seq || tree_seq < 0 || tree_seq == PG_INT64_MAX)
		PG_RETURN_BOOL(false);
	lt_leaf_hash(hash, leaf);
	PG_RETURN_BOOL(check_inclusion(seq, tree_seq + 1, leaf, path, len, root));
}

/*
 * verify_consistency(proof, old_seq, old_root, tree_seq, root): is the log of
 * ops 0..old_seq (root old_root) a prefix of the log of ops 0..tree_seq
 * (root root)?
 */
Datum
nedb_verify_consistency(PG_FUNCTION_ARGS)
{
	Jsonb	   *proof = PG_GETARG_JSONB_P(0);
	int64		old_seq = PG_GETARG_INT64(1);
	int64		tree_seq = PG_GETARG_INT64(3);
	uint8		old_root[NEDB_HASH_LEN];
	uint8		root[NEDB_HASH_LEN];
	uint8		path[MAX_PATH * NEDB_HASH_LEN];
	int			len;
	int64		p_old;
	int64		p_tree;

	if (!text_hash(PG_GETARG_TEXT_PP(2), old_root) ||
		!text_hash(PG_GETARG_TEXT_PP(4), root) || !proof_object(proof))
		PG_RETURN_BOOL(false);
	if (!jv_int64(nedb_member(&proof->root, "old_seq"), &p_old) ||
		!jv_int64(nedb_member(&proof->root, "tree_seq"), &p_tree) ||
		!jv_path(proof, path, &len))
		PG_RETURN_BOOL(false);
	if (p_old != old_seq || p_tree != tree_seq || old_seq < 0 || tree_seq == PG_INT64_MAX)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(check_consistency(old_seq + 1, tree_seq + 1, old_root, root, path, len));
}

/* ------------------------------------------------------------------------
 * The reference's fold proof (SEMANTICS.md §19), for compatibility: O(n)
 * ------------------------------------------------------------------------ */

static void
fold_step(uint8 *h, const uint8 *x)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, NEDB_HASH_LEN);
	crypto_generichash_update(&st, h, NEDB_HASH_LEN);
	crypto_generichash_update(&st, x, NEDB_HASH_LEN);
	crypto_generichash_final(&st, h, NEDB_HASH_LEN);
}

/* {hash, seq, prev_head, subsequent, head} as the reference's /proof */
Datum
nedb_fold_proof(PG_FUNCTION_ARGS)
{
	int64		seq = PG_GETARG_INT64(0);
	NedbSession s;
	uint8		h[NEDB_HASH_LEN];
	uint8		prev[NEDB_HASH_LEN];
	uint8		hash[NEDB_HASH_LEN];
	Portal		portal;
	int64		n = 0;
	JsonbParseState *st = NULL;
	Jsonb	   *res;
	MemoryContext caller = CurrentMemoryContext;

	memset(h, 0, NEDB_HASH_LEN);
	nedb_begin(&s);
	portal = SPI_cursor_open_with_args(NULL, "SELECT seq, hash FROM nedb.ops ORDER BY seq",
									   0, NULL, NULL, NULL, true, 0);
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		nedb_push_key(&st, "subsequent");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		MemoryContextSwitchTo(old);
	}
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		sq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			bytea	   *b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

			CHECK_FOR_INTERRUPTS();
			if (sq != n || VARSIZE_ANY_EXHDR(b) != NEDB_HASH_LEN)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the log is broken at seq " INT64_FORMAT, n)));
			if (n == seq)
			{
				memcpy(prev, h, NEDB_HASH_LEN);
				memcpy(hash, VARDATA_ANY(b), NEDB_HASH_LEN);
			}
			else if (n > seq)
			{
				MemoryContext old = MemoryContextSwitchTo(caller);

				push_hex(&st, NULL, (const uint8 *) VARDATA_ANY(b));
				MemoryContextSwitchTo(old);
			}
			fold_step(h, (const uint8 *) VARDATA_ANY(b));
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	nedb_end(&s);
	if (seq < 0 || seq >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("op " INT64_FORMAT " is not in the log", seq),
				 errdetail("The log holds " INT64_FORMAT " ops.", n)));
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	push_hex(&st, "hash", hash);
	nedb_push_int(&st, "seq", seq);
	push_hex(&st, "prev_head", prev);
	push_hex(&st, "head", h);
	res = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	PG_RETURN_JSONB_P(res);
}

/* refold: prev_head, hash, subsequent... must give head (seq is not bound) */
Datum
nedb_verify_fold_proof(PG_FUNCTION_ARGS)
{
	Jsonb	   *proof = PG_GETARG_JSONB_P(0);
	uint8		h[NEDB_HASH_LEN];
	uint8		x[NEDB_HASH_LEN];
	uint8		head[NEDB_HASH_LEN];
	JsonbValue *sub;
	int64		seq;
	int			n;

	if (!proof_object(proof) ||
		!nedb_json_hash(nedb_member(&proof->root, "prev_head"), h) ||
		!nedb_json_hash(nedb_member(&proof->root, "hash"), x) ||
		!nedb_json_hash(nedb_member(&proof->root, "head"), head) ||
		!jv_int64(nedb_member(&proof->root, "seq"), &seq) || seq < 0)
		PG_RETURN_BOOL(false);
	sub = nedb_member(&proof->root, "subsequent");
	if (sub == NULL || sub->type != jbvBinary || !JsonContainerIsArray(sub->val.binary.data) ||
		JsonContainerIsScalar(sub->val.binary.data))
		PG_RETURN_BOOL(false);
	fold_step(h, x);
	n = JsonContainerSize(sub->val.binary.data);
	for (int i = 0; i < n; i++)
	{
		if (!nedb_json_hash(getIthJsonbValueFromContainer(sub->val.binary.data, i), x))
			PG_RETURN_BOOL(false);
		fold_step(h, x);
	}
	PG_RETURN_BOOL(memcmp(h, head, NEDB_HASH_LEN) == 0);
}

/* ------------------------------------------------------------------------
 * Checking the stored tree against the log: O(n)
 * ------------------------------------------------------------------------ */

/*
 * verify_tree() → (ok, checked, first_bad_seq): rebuild every row of
 * nedb.log_tree from the op hashes (the same incremental construction as at
 * append) and compare; odd ops have exactly their row, even ops none.
 */
Datum
nedb_verify_tree(PG_FUNCTION_ARGS)
{
	NedbSession s;
	TupleDesc	desc;
	Portal		portal;
	uint8		frontier[LT_MAX_LEVEL][NEDB_HASH_LEN];
	int64		n = 0;
	int64		bad = -1;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "nedb.verify_tree must return a record");
	nedb_begin(&s);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT o.seq, o.hash, t.seq, t.nodes FROM nedb.ops o"
									   " FULL JOIN nedb.log_tree t ON t.seq = o.seq ORDER BY coalesce(o.seq, t.seq)",
									   0, NULL, NULL, NULL, true, 0);
	while (bad < 0)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed && bad < 0; r++)
		{
			HeapTuple	row = SPI_tuptable->vals[r];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		null_op,
						null_hash,
						null_tree,
						null_nodes;
			int64		seq = DatumGetInt64(SPI_getbinval(row, td, 1, &null_op));
			Datum		hd = SPI_getbinval(row, td, 2, &null_hash);
			Datum		nd;
			bytea	   *h;
			bytea	   *nodes;
			uint8		expect[LT_MAX_LEVEL * NEDB_HASH_LEN];
			int			level = 0;

			CHECK_FOR_INTERRUPTS();
			(void) SPI_getbinval(row, td, 3, &null_tree);
			nd = SPI_getbinval(row, td, 4, &null_nodes);
			if (null_op || null_hash || seq != n)
			{
				bad = null_op ? DatumGetInt64(SPI_getbinval(row, td, 3, &null_tree)) : seq;
				break;
			}
			h = DatumGetByteaPP(hd);
			if (VARSIZE_ANY_EXHDR(h) != NEDB_HASH_LEN)
			{
				bad = seq;
				break;
			}
			lt_leaf_hash((const uint8 *) VARDATA_ANY(h), expect);
			while (n & ((int64) 1 << level))
			{
				lt_node_hash(frontier[level], expect + level * NEDB_HASH_LEN,
							 expect + (level + 1) * NEDB_HASH_LEN);
				level++;
			}
			memcpy(frontier[level], expect + level * NEDB_HASH_LEN, NEDB_HASH_LEN);
			/* a row for every odd op, none for an even one */
			if (level == 0 ? !(null_tree && null_nodes) : (null_tree || null_nodes))
			{
				bad = seq;
				break;
			}
			if (level > 0)
			{
				nodes = DatumGetByteaPP(nd);
				if (VARSIZE_ANY_EXHDR(nodes) != (level + 1) * NEDB_HASH_LEN ||
					memcmp(VARDATA_ANY(nodes), expect, (level + 1) * NEDB_HASH_LEN) != 0)
				{
					bad = seq;
					break;
				}
			}
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	nedb_end(&s);

	values[0] = BoolGetDatum(bad < 0);
	values[1] = Int64GetDatum(n);
	values[2] = Int64GetDatum(bad);
	nulls[2] = bad < 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
