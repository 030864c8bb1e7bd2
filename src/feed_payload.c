/*
 * feed_payload.c
 *	  The payload nedb.log shows for a put or a delete, written as jsonb
 *	  directly: {"id", "doc", "key", "coll"} (jsonb's key order: by length,
 *	  then bytes), doc being the version's document without its top-level
 *	  "_seq", or {"id", "key", "coll"} for a delete.
 *
 * These are the bytes jsonb_build_object(...) and doc - '_seq' make: a
 * jsonb's layout follows from its value alone (keys sorted, numerics and
 * containers starting 4-byte aligned from the datum's start, the padding
 * counted in the length of what follows it), and a nested container keeps
 * its own layout wherever it starts on a 4-byte boundary.  So the doc's
 * members are copied entry by entry and its nested containers whole, where
 * pushJsonbValue would unpack every level and sort and encode it again.
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "feed_payload.h"

/* zeros up to a 4-byte boundary of the datum; how many */
static int
pad_to_int(StringInfo buf)
{
	int			pad = INTALIGN(buf->len) - buf->len;

	if (pad > 0)
	{
		enlargeStringInfo(buf, pad);
		memset(buf->data + buf->len, 0, pad);
		buf->len += pad;
	}
	return pad;
}

/* reserve n JEntries; their offset in buf */
static int
reserve_entries(StringInfo buf, int n)
{
	int			at = buf->len;

	enlargeStringInfo(buf, sizeof(JEntry) * n);
	buf->len += sizeof(JEntry) * n;
	return at;
}

static void
check_len(uint32 len)
{
	if (len > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb object elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));
}

/*
 * Entry i of a container whose data so far is *total long, for a child of
 * type (JENTRY_IS*) taking len bytes: every JB_OFFSET_STRIDE'th holds the
 * end offset, the others the length.
 */
static void
set_entry(StringInfo buf, int entries, int i, uint32 type, uint32 len, uint32 *total)
{
	JEntry		e;

	*total += len;
	check_len(*total);
	e = type | ((i % JB_OFFSET_STRIDE) == 0 ? (*total | JENTRY_HAS_OFF) : len);
	memcpy(buf->data + entries + i * sizeof(JEntry), &e, sizeof(JEntry));
}

/* a string child: its bytes */
static uint32
put_string(StringInfo buf, const char *s, int len)
{
	appendBinaryStringInfoNT(buf, s, len);
	return len;
}

/*
 * The object doc (a top-level container) without its "_seq" member: its
 * header and entries anew, each child's bytes copied.  Returns its length
 * (with the padding before it), as the parent's entry counts it.
 */
static uint32
put_doc_minus_seq(StringInfo buf, JsonbContainer *doc)
{
	int			start = buf->len;
	int			n = JsonContainerSize(doc);
	const char *base = (const char *) &doc->children[2 * n];
	uint32		values_at = 0;	/* where the values' data starts */
	int			skip = -1;
	int			m;
	uint32		header;
	int			entries;
	uint32		total = 0;
	uint32		koff = 0;
	int			k;

	/* where "_seq" is among the keys (they come first, in order) */
	for (int i = 0; i < n; i++)
	{
		JEntry		e = doc->children[i];
		uint32		end = JBE_HAS_OFF(e) ? JBE_OFFLENFLD(e) : koff + JBE_OFFLENFLD(e);

		if (end - koff == 4 && memcmp(base + koff, "_seq", 4) == 0)
		{
			skip = i;
			break;
		}
		koff = end;
	}
	m = skip < 0 ? n : n - 1;

	pad_to_int(buf);
	header = (uint32) m | JB_FOBJECT;
	appendBinaryStringInfoNT(buf, (const char *) &header, sizeof(uint32));
	entries = reserve_entries(buf, 2 * m);

	/* keys, then values, as they are stored */
	k = 0;
	for (int pass = 0; pass < 2; pass++)
	{
		uint32		o = values_at;

		for (int i = 0; i < n; i++)
		{
			int			ci = pass * n + i;
			JEntry		e = doc->children[ci];
			uint32		end = JBE_HAS_OFF(e) ? JBE_OFFLENFLD(e) : o + JBE_OFFLENFLD(e);
			uint32		type = e & JENTRY_TYPEMASK;
			uint32		len = 0;

			if (i != skip)
			{
				switch (type)
				{
					case JENTRY_ISSTRING:
						len = put_string(buf, base + o, end - o);
						break;
					case JENTRY_ISNUMERIC:
					case JENTRY_ISCONTAINER:
						{
							/* aligned data up to the next child: copied as it is */
							uint32		at = INTALIGN(o);

							len = pad_to_int(buf);
							appendBinaryStringInfoNT(buf, base + at, end - at);
							len += end - at;
						}
						break;
					default:
						/* null and booleans have no data */
						break;
				}
				set_entry(buf, entries, k++, type, len, &total);
			}
			o = end;
		}
		/* the keys end where the values start */
		values_at = o;
	}
	Assert(k == 2 * m);
	return buf->len - start;
}

/*
 * Append the jsonb datum of a put's payload (with_doc; doc NULL gives
 * "doc": null) or a delete's to buf, which must be empty (the datum is
 * buf->data, aligned as palloc's).  coll and id may be NULL.
 */
void
feed_key_payload(StringInfo buf, const char *coll, int coll_len,
				 const char *id, int id_len, bool with_doc, Jsonb *doc)
{
	int			n = with_doc ? 4 : 3;
	uint32		header = (uint32) n | JB_FOBJECT;
	int			entries;
	uint32		total = 0;
	int			i = 0;
	uint32		len;

	Assert(buf->len == 0);
	Assert(doc == NULL || JsonContainerIsObject(&doc->root));
	appendStringInfoSpaces(buf, VARHDRSZ);
	appendBinaryStringInfoNT(buf, (const char *) &header, sizeof(uint32));
	entries = reserve_entries(buf, 2 * n);

	/* keys: "id", "doc", "key", "coll" */
	set_entry(buf, entries, i++, JENTRY_ISSTRING, put_string(buf, "id", 2), &total);
	if (with_doc)
		set_entry(buf, entries, i++, JENTRY_ISSTRING, put_string(buf, "doc", 3), &total);
	set_entry(buf, entries, i++, JENTRY_ISSTRING, put_string(buf, "key", 3), &total);
	set_entry(buf, entries, i++, JENTRY_ISSTRING, put_string(buf, "coll", 4), &total);

	/* values */
	if (id)
		set_entry(buf, entries, i++, JENTRY_ISSTRING, put_string(buf, id, id_len), &total);
	else
		set_entry(buf, entries, i++, JENTRY_ISNULL, 0, &total);
	if (with_doc)
	{
		if (doc)
		{
			len = put_doc_minus_seq(buf, &doc->root);
			set_entry(buf, entries, i++, JENTRY_ISCONTAINER, len, &total);
		}
		else
			set_entry(buf, entries, i++, JENTRY_ISNULL, 0, &total);
	}
	if (coll && id)
	{
		len = put_string(buf, coll, coll_len);
		len += put_string(buf, ":", 1);
		len += put_string(buf, id, id_len);
		set_entry(buf, entries, i++, JENTRY_ISSTRING, len, &total);
	}
	else
		set_entry(buf, entries, i++, JENTRY_ISNULL, 0, &total);
	if (coll)
		set_entry(buf, entries, i++, JENTRY_ISSTRING, put_string(buf, coll, coll_len), &total);
	else
		set_entry(buf, entries, i++, JENTRY_ISNULL, 0, &total);
	Assert(i == 2 * n);

	check_len(buf->len - VARHDRSZ);
	SET_VARSIZE(buf->data, buf->len);
}
