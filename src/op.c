/*
 * op.c
 *	  The canonical body of an op and its place in the chain.
 *
 * body = {"caused_by"?, "client", "confidence"?, "evidence"?, "idem",
 *         "nonce", "op", "payload", "seq", "ts", "valid_from"?, "valid_to"?}
 * (keys in canonical order; the optional ones only when set), and
 * hash_n = BLAKE2b-256(hex(hash_{n-1}) || body_n) with a 64-zero genesis.
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "canon.h"
#include "op.h"

static void
append_int64(StringInfo out, int64 v)
{
	char		buf[MAXINT8LEN + 1];
	int			len = pg_lltoa(v, buf);

	appendBinaryStringInfo(out, buf, len);
}

/* ,"k": (or "k": first); k is a literal, so its length is known */
#define key(out, k, first) key_len(out, "\"" k "\":", sizeof(k) + 2, first)

static void
key_len(StringInfo out, const char *quoted, int len, bool *first)
{
	if (!*first)
		appendStringInfoCharMacro(out, ',');
	*first = false;
	appendBinaryStringInfo(out, quoted, len);
}

static void
str_or_null(StringInfo out, const char *s)
{
	if (s)
		canon_string(out, s, strlen(s));
	else
		appendStringInfoString(out, "null");
}

static void
payload(StringInfo out, const NedbOp *op)
{
	bool		put = strcmp(op->op, "put") == 0;

	if (put || strcmp(op->op, "delete") == 0)
	{
		/* {"coll", "doc"?, "id", "key": "coll:id"} */
		appendStringInfoString(out, "{\"coll\":");
		str_or_null(out, op->coll);
		if (put)
		{
			appendStringInfoString(out, ",\"doc\":");
			if (op->doc_canon)
				appendBinaryStringInfo(out, op->doc_canon, op->doc_canon_len);
			else if (op->doc)
				canon_jsonb(out, op->doc, op->doc_has_seq, false);
			else
				appendStringInfoString(out, "null");
		}
		appendStringInfoString(out, ",\"id\":");
		str_or_null(out, op->id);
		appendStringInfoString(out, ",\"key\":");
		{
			/* "coll:id", usually short enough for the stack */
			const char *coll = op->coll ? op->coll : "";
			const char *id = op->id ? op->id : "";
			size_t		cl = strlen(coll);
			size_t		il = strlen(id);
			char		small[256];
			char	   *k = cl + il + 1 <= sizeof(small) ? small : palloc(cl + il + 1);

			memcpy(k, coll, cl);
			k[cl] = ':';
			memcpy(k + cl + 1, id, il);
			canon_string(out, k, cl + il + 1);
			if (k != small)
				pfree(k);
		}
		appendStringInfoCharMacro(out, '}');
	}
	else if (op->payload)
		canon_jsonb(out, op->payload, false, false);
	else
		appendStringInfoString(out, "{}");
}

void
op_build_body(StringInfo out, const NedbOp *op)
{
	bool		first = true;

	appendStringInfoCharMacro(out, '{');
	if (op->caused_by)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(op->caused_by, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &nulls, &n);
		key(out, "caused_by", &first);
		appendStringInfoCharMacro(out, '[');
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				appendStringInfoCharMacro(out, ',');
			if (nulls[i])
				appendStringInfoString(out, "null");
			else
				append_int64(out, DatumGetInt64(elems[i]));
		}
		appendStringInfoCharMacro(out, ']');
	}
	key(out, "client", &first);
	str_or_null(out, op->client);
	if (op->has_confidence)
	{
		key(out, "confidence", &first);
		canon_float(out, op->confidence);
	}
	if (op->evidence)
	{
		key(out, "evidence", &first);
		str_or_null(out, op->evidence);
	}
	key(out, "idem", &first);
	str_or_null(out, op->idem);
	key(out, "nonce", &first);
	append_int64(out, op->nonce);
	key(out, "op", &first);
	str_or_null(out, op->op);
	key(out, "payload", &first);
	payload(out, op);
	key(out, "seq", &first);
	append_int64(out, op->seq);
	key(out, "ts", &first);
	canon_float(out, op->ts);
	if (op->valid_from)
	{
		key(out, "valid_from", &first);
		str_or_null(out, op->valid_from);
	}
	if (op->valid_to)
	{
		key(out, "valid_to", &first);
		str_or_null(out, op->valid_to);
	}
	appendStringInfoCharMacro(out, '}');
}

void
op_hash(const char *prev_hex, const char *body, size_t len, uint8 *out)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, NEDB_HASH_LEN);
	crypto_generichash_update(&st, (const unsigned char *) prev_hex, NEDB_HEX_LEN);
	crypto_generichash_update(&st, (const unsigned char *) body, len);
	crypto_generichash_final(&st, out, NEDB_HASH_LEN);
}

void
hash_to_hex(const uint8 *hash, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < NEDB_HASH_LEN; i++)
	{
		hex[2 * i] = digits[hash[i] >> 4];
		hex[2 * i + 1] = digits[hash[i] & 0xF];
	}
	hex[NEDB_HEX_LEN] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;					/* the chain's hex is lowercase only */
}

bool
hex_to_hash(const char *hex, uint8 *hash)
{
	if (strlen(hex) != NEDB_HEX_LEN)
		return false;
	for (int i = 0; i < NEDB_HASH_LEN; i++)
	{
		int			hi = hexval(hex[2 * i]);
		int			lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		hash[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

double
op_now(void)
{
	TimestampTz now = GetCurrentTimestamp();

	return (double) now / USECS_PER_SEC +
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}
