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
#include "utils/memutils.h"

#include "feed_payload.h"

/*
 * The datum is written into room made for it at once (what it can take at
 * most is known up front): w is where the next byte goes, and its distance
 * from the datum's start decides the 4-byte alignment.
 */
typedef struct Writer
{
	char	   *start;			/* the datum's first byte */
	char	   *w;
} Writer;

/* zeros up to a 4-byte boundary of the datum; how many */
static inline uint32
pad_to_int(Writer *wr)
{
	uint32		pos = wr->w - wr->start;
	uint32		pad = INTALIGN(pos) - pos;

	for (uint32 i = 0; i < pad; i++)
		*wr->w++ = '\0';
	return pad;
}

static inline uint32
put_bytes(Writer *wr, const char *s, uint32 len)
{
	memcpy(wr->w, s, len);
	wr->w += len;
	return len;
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
 * Entry i of a container's entries, for a child of type (JENTRY_IS*) taking
 * len bytes, the data so far *total long: every JB_OFFSET_STRIDE'th holds
 * the end offset, the others the length.
 */
static inline void
set_entry(JEntry *entries, int i, uint32 type, uint32 len, uint32 *total)
{
	*total += len;
	entries[i] = type | ((i % JB_OFFSET_STRIDE) == 0 ? (*total | JENTRY_HAS_OFF) : len);
}

/* a container's header and room for its n entries (they are not aligned) */
static inline char *
put_header(Writer *wr, uint32 header, int n)
{
	char	   *entries;

	memcpy(wr->w, &header, sizeof(uint32));
	wr->w += sizeof(uint32);
	entries = wr->w;
	wr->w += sizeof(JEntry) * n;
	return entries;
}

/*
 * The object doc (a top-level container) without its "_seq" member: its
 * header and entries anew, each child's bytes copied.  Returns its length
 * (with the padding before it), as the parent's entry counts it.
 */
static uint32
put_doc_minus_seq(Writer *wr, JsonbContainer *doc)
{
	char	   *start = wr->w;
	int			n = JsonContainerSize(doc);
	const char *base = (const char *) &doc->children[2 * n];
	uint32		values_at = 0;	/* where the values' data starts */
	int			skip = -1;
	int			m;
	JEntry		entries[64];
	JEntry	   *e_out;
	char	   *e_at;
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

	pad_to_int(wr);
	e_at = put_header(wr, (uint32) m | JB_FOBJECT, 2 * m);
	/* entries built aside, then copied: e_at need not be aligned for JEntry */
	e_out = 2 * m <= lengthof(entries) ? entries : palloc(sizeof(JEntry) * 2 * m);

	/* keys, then values, as they are stored */
	k = 0;
	for (int pass = 0; pass < 2; pass++)
	{
		uint32		o = values_at;

		for (int i = 0; i < n; i++)
		{
			JEntry		e = doc->children[pass * n + i];
			uint32		end = JBE_HAS_OFF(e) ? JBE_OFFLENFLD(e) : o + JBE_OFFLENFLD(e);
			uint32		type = e & JENTRY_TYPEMASK;
			uint32		len = 0;

			if (i != skip)
			{
				if (type == JENTRY_ISSTRING)
					len = put_bytes(wr, base + o, end - o);
				else if (type == JENTRY_ISNUMERIC || type == JENTRY_ISCONTAINER)
				{
					/* aligned data up to the next child: copied as it is */
					uint32		at = INTALIGN(o);

					len = pad_to_int(wr);
					len += put_bytes(wr, base + at, end - at);
				}
				/* null and booleans have no data */
				set_entry(e_out, k++, type, len, &total);
			}
			o = end;
		}
		/* the keys end where the values start */
		values_at = o;
	}
	Assert(k == 2 * m);
	check_len(total);
	memcpy(e_at, e_out, sizeof(JEntry) * 2 * m);
	if (e_out != entries)
		pfree(e_out);
	return wr->w - start;
}

/*
 * The jsonb datum of a put's payload (with_doc; doc NULL gives "doc": null)
 * or a delete's, into buf (reset first; the datum is buf->data, aligned as
 * palloc's).  coll and id may be NULL.
 */
void
feed_key_payload(StringInfo buf, const char *coll, int coll_len,
				 const char *id, int id_len, bool with_doc, Jsonb *doc)
{
	int			n = with_doc ? 4 : 3;
	Writer		wr;
	JEntry		entries[8];
	char	   *e_at;
	uint32		total = 0;
	int			i = 0;
	uint32		len;
	Size		room;

	Assert(doc == NULL || JsonContainerIsObject(&doc->root));
	/*
	 * At most: the header and entries, the keys, the values, and for the
	 * doc its own bytes with up to 3 bytes of padding more per child.
	 */
	room = VARHDRSZ + sizeof(uint32) * (1 + 2 * n) + 12 + 2 * (Size) coll_len +
		2 * (Size) id_len + 1 + 3;
	if (doc)
		room += VARSIZE(doc) + 3 * (Size) JsonContainerSize(&doc->root) + 3;
	resetStringInfo(buf);
	if (room >= MaxAllocSize)
		check_len(JENTRY_OFFLENMASK + 1);
	enlargeStringInfo(buf, (int) room);
	wr.start = buf->data;
	wr.w = buf->data + VARHDRSZ;
	e_at = put_header(&wr, (uint32) n | JB_FOBJECT, 2 * n);

	/* keys: "id", "doc", "key", "coll" */
	set_entry(entries, i++, JENTRY_ISSTRING, put_bytes(&wr, "id", 2), &total);
	if (with_doc)
		set_entry(entries, i++, JENTRY_ISSTRING, put_bytes(&wr, "doc", 3), &total);
	set_entry(entries, i++, JENTRY_ISSTRING, put_bytes(&wr, "key", 3), &total);
	set_entry(entries, i++, JENTRY_ISSTRING, put_bytes(&wr, "coll", 4), &total);

	/* values */
	if (id)
		set_entry(entries, i++, JENTRY_ISSTRING, put_bytes(&wr, id, id_len), &total);
	else
		set_entry(entries, i++, JENTRY_ISNULL, 0, &total);
	if (with_doc)
	{
		if (doc)
		{
			len = put_doc_minus_seq(&wr, &doc->root);
			set_entry(entries, i++, JENTRY_ISCONTAINER, len, &total);
		}
		else
			set_entry(entries, i++, JENTRY_ISNULL, 0, &total);
	}
	if (coll && id)
	{
		len = put_bytes(&wr, coll, coll_len);
		len += put_bytes(&wr, ":", 1);
		len += put_bytes(&wr, id, id_len);
		set_entry(entries, i++, JENTRY_ISSTRING, len, &total);
	}
	else
		set_entry(entries, i++, JENTRY_ISNULL, 0, &total);
	if (coll)
		set_entry(entries, i++, JENTRY_ISSTRING, put_bytes(&wr, coll, coll_len), &total);
	else
		set_entry(entries, i++, JENTRY_ISNULL, 0, &total);
	Assert(i == 2 * n);
	memcpy(e_at, entries, sizeof(JEntry) * 2 * n);

	buf->len = wr.w - wr.start;
	Assert(buf->len < buf->maxlen);
	buf->data[buf->len] = '\0';
	check_len(buf->len - VARHDRSZ);
	SET_VARSIZE(buf->data, buf->len);
}
