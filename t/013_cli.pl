# The nedb command-line tool (README: Command-line tool), run from the
# installed bindir against a real database.
#
#  - status, head, get, scan, export say what the server holds.
#  - verify --state: the first run trusts and saves; after more writes the
#    next run passes (a consistency proof and the new ops re-hashed).
#  - A superuser forges history: disables the append-only trigger, rewrites
#    an old op, recomputes its hash, every later hash and the whole
#    nedb.log_tree (with Python's hashlib, independently of the tool), so
#    that the server's own nedb.verify() and nedb.verify_tree() pass: verify
#    --state fails naming the rewritten seq, a fresh state trusts it.
#  - An old op's fields rewritten, hash left alone: verify --full and get
#    --verify of that document fail naming its seq.  A dropped op: verify
#    --full names it.
#  - verify-digest: a signed digest passes; a flipped bit, another key or
#    another tree size is refused.
#  - verify-aof: an export passes and gives the server's head and root;
#    copies with a line altered, removed, or a bit flipped fail naming the
#    line and seq; the reference's hash-chain vectors, written as an AOF,
#    pass.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# RFC 8032's first test key signs digests
my $key = "$tmp/signing.key";
PostgreSQL::Test::Utils::append_to_file($key, '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
chmod 0600, $key;

my $node = PostgreSQL::Test::Cluster->new('cli');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'nedb'\nnedb.signing_key_file = '$key'\n");
$node->start;

# run nedb; (exit status, stdout, stderr)
sub nedb
{
	my @args = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'nedb', @args ], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# a database with puts (floats, non-ASCII, escapes, provenance), a delete, a
# link and an idempotent put
sub new_db
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
CREATE EXTENSION nedb;
SELECT nedb.put('users', 'u' || g, jsonb_build_object('name', 'User ' || g, 'score', g * 1.5,
                'tags', jsonb_build_array('a', 'é', g))) FROM generate_series(1, 30) g;
SELECT nedb.delete('users', 'u3');
SELECT nedb.link('users:u1', 'knows', 'users:u2');
SELECT nedb.put('items', 'i1', '{"x": 1e2, "y": 0.1, "z": "tab\tq\"uote \ud83d\ude00", "w": {"b": 1, "a": [true, null]}}');
SELECT nedb.put('users', 'u7', '{"name": "Seven"}', idem => 'k7', caused_by => ARRAY[1, 2],
                evidence => 'inference', confidence => 0.95, valid_from => '2024-01-01');
});
	return $node->connstr($db);
}

sub more_writes
{
	my ($db, $from, $to) = @_;
	$node->safe_psql($db, qq{
SELECT nedb.put('users', 'n' || g, jsonb_build_object('n', g, 'f', g / 3.0)) FROM generate_series($from, $to) g;
SELECT nedb.delete('users', 'n$from');
});
}

# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
my $cs = new_db('main');
my ($rc, $out, $err) = nedb('-d', $cs, 'status');
is($rc, 0, 'status: exit 0');
my $digest = $node->safe_psql('main', 'SELECT seq || \' \' || head || \' \' || root FROM nedb.digest()');
my ($dseq, $dhead, $droot) = split / /, $digest;
like($out, qr/^seq $dseq\nhead $dhead\ntree_size ${\($dseq + 1)}\nroot $droot\ncollections 2\ndocuments 30\n/,
	'status: seq, head, tree size, root, collections, documents');
($rc, $out) = nedb('-d', $cs, 'head');
is($out, "$dseq $dhead\n", 'head: seq and head hash');
($rc, $out) = nedb('-d', $cs, 'get', 'users', 'u2');
is($out, $node->safe_psql('main', "SELECT nedb.get('users', 'u2')") . "\n", 'get: the document');
($rc, $out) = nedb('-d', $cs, 'get', 'users', 'u3');
is($out, "null\n", 'get: a deleted document is null');
($rc, $out) = nedb('-d', $cs, 'get', 'users', 'u3', '--as-of', '2');
like($out, qr/"name": "User 3"/, 'get --as-of: the document before its delete');
($rc, $out) = nedb('-d', $cs, 'scan', 'users', '--limit', '5');
is(scalar(() = $out =~ /\n/g), 5, 'scan --limit 5: five JSON lines');
($rc, $out) = nedb('-d', $cs, 'export', '--from', '3', '--to', '5');
like($out, qr/^\{"seq": 3, .*\n\{"seq": 4, .*\n\{"seq": 5, [^\n]*\n$/s, 'export --from 3 --to 5: three AOF lines');

# ---------------------------------------------------------------------------
# verify --state: trust on first use, then every change
# ---------------------------------------------------------------------------
my $state = "$tmp/main.state";
($rc, $out) = nedb('-d', $cs, 'verify', '--state', $state);
is($rc, 0, 'verify: first run exit 0');
like($out, qr/first run \(trust on first use\): ${\($dseq + 1)} ops re-hashed/, 'verify: first run re-hashes every op');
like(slurp_file($state), qr/tree_size ${\($dseq + 1)}\nroot $droot\nhead $dhead\n/, 'verify: state holds size, root, head');
more_writes('main', 1, 40);
($rc, $out) = nedb('-d', $cs, 'verify', '--state', $state);
is($rc, 0, 'verify after more writes: exit 0');
like($out, qr/ops verified before are a prefix of today's ${\($dseq + 42)}; 41 ops re-hashed/,
	'verify after more writes: consistency, and only the new ops re-hashed');
($rc, $out) = nedb('-d', $cs, 'verify', '--state', $state, '--full');
is($rc, 0, 'verify --full on an intact log: exit 0');
($rc, $out, $err) = nedb('-d', $cs, 'get', 'users', 'u5', '--verify', '--state', $state);
is($rc, 0, 'get --verify: exit 0');
like($err, qr/verified: op 4 \(hash of its fields\) is in the tree/, 'get --verify: the op is in the verified tree');

# exported AOF, offline
my $aof = "$tmp/main.aof";
($rc, $out) = nedb('-d', $cs, 'export');
PostgreSQL::Test::Utils::append_to_file($aof, $out);
($dseq, $dhead, $droot) = split / /,
  $node->safe_psql('main', 'SELECT seq || \' \' || head || \' \' || root FROM nedb.digest()');
($rc, $out) = nedb('verify-aof', $aof);
is($rc, 0, 'verify-aof of an export: exit 0');
like($out, qr/${\($dseq + 1)} ops, seq 0 to $dseq\nhead $dhead\nroot $droot\n/,
	'verify-aof: the server\'s head and tree root, from the file alone');

my @lines = split /\n/, slurp_file($aof);
sub write_lines
{
	my ($name, @l) = @_;
	my $f = "$tmp/$name";
	open my $fh, '>', $f or die;
	print $fh map { "$_\n" } @l;
	close $fh;
	return $f;
}
my @alt = @lines;
$alt[9] =~ s/"User 10"/"User 1O"/ or die;
($rc, $out) = nedb('verify-aof', write_lines('altered.aof', @alt));
is($rc, 1, 'verify-aof, a value altered: exit 1');
like($out, qr/line 10 \(seq 9\): its hash .* is not the hash of its fields/, 'verify-aof names the altered line and seq');
my @rem = @lines;
splice @rem, 20, 1;
($rc, $out) = nedb('verify-aof', write_lines('removed.aof', @rem));
is($rc, 1, 'verify-aof, a line removed: exit 1');
like($out, qr/line 21 \(seq 21\): seq 21 where seq 20 was due \(ops are missing\)/, 'verify-aof names the line after the gap');
my $raw = slurp_file($aof);
# line 16 is seq 15, the put of u16: "User 16" becomes "User 12"
my $pos = index($raw, '"User 16"') + 6;
substr($raw, $pos, 1) = chr(ord(substr($raw, $pos, 1)) ^ 0x04);
my $flipped = "$tmp/flipped.aof";
PostgreSQL::Test::Utils::append_to_file($flipped, $raw);
($rc, $out) = nedb('verify-aof', $flipped);
is($rc, 1, 'verify-aof, one bit flipped: exit 1');
like($out, qr/line 16 \(seq 15\)/, 'verify-aof names the line with the flipped bit');
my @sw = @lines;
@sw[5, 6] = @sw[6, 5];
($rc, $out) = nedb('verify-aof', write_lines('swapped.aof', @sw));
like($out, qr/line 6 \(seq 6\): seq 6 where seq 5 was due/, 'verify-aof: two lines swapped');

# the reference's hash-chain vectors (nedb_vectors.json: its five ops as
# its AOF holds them)
my $vec = "$tmp/vectors.aof";
PostgreSQL::Test::Utils::append_to_file($vec, <<'EOF');
{"seq": 0, "client": "local", "nonce": 1, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "_id": "alice"}}, "ts": 1700000000.0, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd"}
{"seq": 1, "client": "local", "nonce": 2, "op": "delete", "payload": {"key": "users:alice", "coll": "users", "id": "alice"}, "ts": 1700000001.5, "idem": "k1", "prev_hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd", "hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19"}
{"seq": 2, "client": "agent", "nonce": 1, "op": "put", "payload": {"key": "b:x", "coll": "b", "id": "x", "doc": {"v": "caf\u00e9", "f": 0.1, "big": 100000000000000000000, "e": 1e-07, "t": true, "n": null, "_id": "x", "_caused_by": [0, 1], "_evidence": "inference", "_confidence": 0.95, "_valid_from": "2024-01-01", "_valid_to": "2024-12-31"}}, "ts": 1700000002.25, "idem": null, "prev_hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19", "hash": "5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b", "caused_by": [0, 1], "evidence": "inference", "confidence": 0.95, "valid_from": "2024-01-01", "valid_to": "2024-12-31"}
{"seq": 3, "client": "local", "nonce": 3, "op": "link", "payload": {"frm": "users:alice", "rel": "follows", "to": "users:bob"}, "ts": 1700000003.0, "idem": null, "prev_hash": "5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b", "hash": "0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769"}
{"seq": 4, "client": "__snapshot__", "nonce": 1700000004000, "op": "checkpoint", "payload": {"note": "snapshot captured"}, "ts": 1700000004.0, "idem": null, "prev_hash": "0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769", "hash": "29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598"}
EOF
($rc, $out) = nedb('verify-aof', $vec);
is($rc, 0, 'verify-aof: the reference vectors pass');
like($out, qr/5 ops, seq 0 to 4\nhead 29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598\n/,
	'verify-aof: the vectors\' final head');

# the reference's encrypted database (encrypted_aof_vectors.json): its
# AOF in plaintext, and encrypted (AES-256-GCM), opened with the master key
# and key.enc or with the data key
my $plainf = "$tmp/enc-plain.aof";
PostgreSQL::Test::Utils::append_to_file($plainf, <<'EOF');
{"seq": 0, "client": "local", "nonce": 1, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "city": "Austin", "_id": "alice"}}, "ts": 1780000001.5, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "6eab1763a147aa26f2e494b4b3f10f1fb285fba6d8538a07c88970d17c57dce7"}
{"seq": 1, "client": "local", "nonce": 2, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "city": "Lisbon", "_id": "alice"}}, "ts": 1780000003.0, "idem": null, "prev_hash": "6eab1763a147aa26f2e494b4b3f10f1fb285fba6d8538a07c88970d17c57dce7", "hash": "ffd326b4081af8442a1b6ddc4193dcc9025a9c9887fb5e621a7b8189102ae8d7"}
{"seq": 2, "client": "local", "nonce": 3, "op": "link", "payload": {"frm": "users:alice", "rel": "follows", "to": "users:bob"}, "ts": 1780000004.5, "idem": null, "prev_hash": "ffd326b4081af8442a1b6ddc4193dcc9025a9c9887fb5e621a7b8189102ae8d7", "hash": "fc8d5d0ee1bab7622a568dc53c51837b5889af762b3411e4b458571f4ea5fe91"}
{"seq": 3, "client": "shop", "nonce": 1, "op": "put", "payload": {"key": "orders:o1", "coll": "orders", "id": "o1", "doc": {"total": 42, "_id": "o1"}}, "ts": 1780000006.0, "idem": "charge-o1", "prev_hash": "fc8d5d0ee1bab7622a568dc53c51837b5889af762b3411e4b458571f4ea5fe91", "hash": "3e4f8ddcae6e252f7c0e5186f3ca3fbaaf1e4b0de1d2c420de1006c18779ed7c"}
{"seq": 4, "client": "local", "nonce": 4, "op": "delete", "payload": {"key": "users:alice", "coll": "users", "id": "alice"}, "ts": 1780000007.5, "idem": null, "prev_hash": "3e4f8ddcae6e252f7c0e5186f3ca3fbaaf1e4b0de1d2c420de1006c18779ed7c", "hash": "0e8c21278b75ce53b0a2c9f5096e34c59c8938dbdda8133e97e9eb85c7251e28"}
EOF
my $encf = "$tmp/enc.aof";
PostgreSQL::Test::Utils::append_to_file($encf, <<'EOF');
{"enc":1,"ct":"UeJxaSaBrRZm2SMUaig97i162A/HqBGEG8UE/YGyS9VbqpNC2p0HVSKS/IoZ2/ijHEmZCje5ENHbJlyVCRpjbBlq3SIYPp2KPNnb1rOYcAstmOffcZ65kcb8ZVZwriUJgty26XvPVDiCd3quZmCdGrwfkv3k5hyziTlwvm1mnxLz47h+vSQAKMCLRYh+jkE9kfWunPudBQeoUDi3f5PxCPXL0pEbve28GK6Dbn2y8uYFfbFs5i8b5CSgvnymk2WRjs6UMa08kh3Q1fcCE7tX8sDE3inJI/9G9MbAEQiJ26GbA+MKMeDB6Cnu1YnotCYGUCvfpqqYCcBepUtmpAoVaLxQh6pGQRyhLlaP7ZO/JNlHqKatO7Ldm0nNRrRRRy9oQqjKOgXsiPT7z/yTJt7+fkToFc4LnBpJ2pjE/PB6sdl8ZH/4CVlwVpteqgFtXg353mNy3gFyg2FpCTWeJMBGFpMpd+s61NDV6CUx71zqbqitcg69mJ/Fk7y7kqwEo8h5n/f2HtimWN3CmazXb1DZmQ=="}
{"enc":1,"ct":"DLCu0Jl9rtMqkq46ejc8cg7322fAj81GVbBaVawWcZ4OWDpCGj8a3wIxgPE9+SSSdG97bNQKnIPg3xauKFExX+culG3byWxcLepCt+0XgBJ5pgjtcL+HKAKjH1nvGGRHtk96aGfvFph1vUN1bI1jYNK8cebfz/pVXz0Isxv+zDcN7trSoyvSR9ylw4ptM3TRK4i0C5U7W4hgTvlMc44WfvNjRrrcg1VKRxlr1H+1xufEpEdTuKuoUp0Qh45ZSH/hQmIMnNBKSziFZZUukpPp0yvuu+1uAbwkUj/d5O536Y94wLmnQBoi5YyCwd5V9aMdxlop71dRF9WHP5dSUguWwa7r0vxPM35ph+HvxwqVrJFpFqGj/+rfs30lJIfd54+9rJB10k1D6jQ6SLx1XYNgyWs9t4AtR0L/tBgey3npy+0SieCKfB20CQVuLL1JImWGzX194LKKNSpzL6UzR2eKM26AurMO2Ldy5Lad8deKcpE0nMmn10muRStrK+lj8W4QD700M5x6e9ObnC7o35WQAA=="}
{"enc":1,"ct":"AjUOnWBrmbtzVKRqeUrV0bHBPvLn6pILSeMaTrZCy+heUycG/hQAaR/3Yl0cfgQKyHaxFOP3PM+Onlmt8USihM24aHyb4+F2irVDq9n/wJhhHqDsIXh/KGH62BzrSeuHyg9HKOV8DpPdDtC7eZGffLiAY5pZwV74YlszTgJud1gtM1gAuExGR4HTzWYrp43zr5CCbAGLCY4p3kOCClJqLvqy7LJMJP1X/tfRoQJWW39kuimZJCsdX+bZb2ilzW8hnEXw9fNlG6xRpDW80H7XZJzDWLpyB3MPFsCdr0YlYZDRfp7g9Vz8hbLV6v7RwhFTD6jvXhFwEbHpjNpjqjDZ+t9U5QNT4uiDKjZcSRafizcOH/SJR/KG9KZDQYoLGEuDRci3taahYZd2bFzN4n1QnH3zKyLjjOZ+WdBqgpc4tOTOEKTAVkbC1cC/ekp1y2vqs8a5w0aOvI7M8w=="}
{"enc":1,"ct":"MyzVXWP1jJ/WyO1e9jYUBTPNbjTEGj0LRpmT+fJ5sJsng07Yr5SQzuslfV+4OooDePhOuMQmQUxKBEkRmKf9aInaO0n3W6dT6m3jQylnltsySw6IMb5PjeH91X7PHX/TPHjhZvWEkQ1yYst4xvUZR2Gt8LgMM19ps8JOhM0SaK/JUsisfivivLJt4d/P/Sp5K8ZV+k49modha1nko/JGDg39w4wTrhYktTmqJcRdJiez9Dg0y3TWW28d/yCAfk11WMjGNiMTMcxQM9rGQqTkj0oCLkkrkkeNOcgcCWKMO8YixXTP0xlpqlgbTw63J+N5SUBP8+rJts78MMCYPiGmDX0b3ZNxFsSrlFMvt0ypoDexrKQNhOstqpA4g9KJDZMqxFubqUYJ8Gz/ppIqXu02KaKwZJcNYhmqg+9nTYZJ/KKWu5fa/VwUmHF6y6ziSF6QufvamyBU+ym3oOVIe+mwCPo1G3Kmzz08BHUPFNJLNiAKeN88x+Rk0xU="}
{"enc":1,"ct":"4i9u/MtJq/KRVe2Ssxta6FAUKlcuuvOMBbQBExknrT+Dk9WKYamaD5U8IAM7P+xHtHX8e75wKzr4itqCdi/C0VmzhP1tuqR+Bjjft3/Oub/9XV7SGwQkYzmw1jn9uxzAv3ZltBf6arWMtYViWBDf/DsGycrwKB/ZMFHTdjNkB+QXOlBGPKrKALcyVWSRbGLVyPRgvEWFv49EnbvzK8/bc5dCC/5DRWCxaUg2kniGwF9XbKoUvxderXRms9m9Db8O3oC+BmLL7xLYeTaZHfP0sh9M5RRVmAMrly8L4UUjdrGUmjREGjaeLcGrgX2Y90g87EWAYGNb0XeTHahq+2fNUUUqJpYv8a7lEHUMke0/w8jJpbesMySFQ9I/Ev5IgQQXM9KC/eD7ifqsfu7ZUm6f82oAljKrDJaDNVTQxx5+5rnigbpbyDGvmY7GlFBArJcw/5C4O34WSQ=="}
EOF
my $keyenc = "$tmp/key.enc";
PostgreSQL::Test::Utils::append_to_file($keyenc, '{"v": 1, "alg": "AES-256-GCM", "n": "f2bea9ccd4ea629b4c651cb7", "ct": "c290d5b8f57196d76b7a85f0d82a32bf307e33f144b8cd452a2adb5736a273ad7becfc0c406655bfb9dab1d8e187bbfb"}');
my $tmk = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
my $dek = '9cc39666b5792b8ae6d6005500e1cd953eddd8ca9a5a569d7c2138514c206791';
my $ehead = '0e8c21278b75ce53b0a2c9f5096e34c59c8938dbdda8133e97e9eb85c7251e28';
($rc, $out) = nedb('verify-aof', $plainf);
like($out, qr/^ok: .*5 ops, seq 0 to 4\nhead $ehead\n/, 'verify-aof: the encrypted vectors\' plaintext passes');
($rc, $out, $err) = nedb('verify-aof', $encf);
is($rc, 2, 'verify-aof: an encrypted AOF without a key: exit 2');
like($err, qr/line 1: an encrypted line/, 'verify-aof: without a key, says what is missing');
($rc, $out) = nedb('verify-aof', $encf, '--tmk', $tmk, '--key-enc', $keyenc);
is($rc, 0, 'verify-aof --tmk --key-enc: the encrypted AOF passes');
like($out, qr/5 ops, seq 0 to 4\nhead $ehead\n/, 'verify-aof --tmk: the reference\'s head');
($rc, $out) = nedb('verify-aof', $encf, '--dek', $dek);
is($rc, 0, 'verify-aof --dek: the encrypted AOF passes');
my $badtmk = substr($tmk, 0, 63) . 'e';
($rc, $out, $err) = nedb('verify-aof', $encf, '--tmk', $badtmk, '--key-enc', $keyenc);
is($rc, 2, 'verify-aof: another master key does not open key.enc: exit 2');
my @el = split /\n/, slurp_file($encf);
$el[2] =~ s/("ct":"[A-Za-z0-9+\/]{40})([A-Za-z])/$1 . ($2 eq 'A' ? 'B' : 'A')/e or die;
($rc, $out) = nedb('verify-aof', write_lines('enc-bad.aof', @el), '--dek', $dek);
is($rc, 1, 'verify-aof: a damaged encrypted line: exit 1');
like($out, qr/line 3: the encrypted line does not decrypt/, 'verify-aof names the damaged encrypted line');

# floats as Python reads and writes them: random doubles, timestamps, other
# spellings (exponents, extra digits, trailing zeros), overflow, underflow,
# -0.0, subnormals; each line hashed by Python's json.dumps
my $gen = q{
import hashlib, json, random, struct, sys
rnd = random.Random(7)
def tokens():
    for _ in range(40000):
        k = rnd.random()
        if k < 0.3:
            d = struct.unpack('<d', struct.pack('<Q', rnd.getrandbits(64)))[0]
            if d == d and abs(d) != float('inf'):
                yield repr(d)
        elif k < 0.5:
            yield repr(rnd.uniform(-1e6, 1e6))
        elif k < 0.6:
            yield repr(1700000000 + rnd.random() * 1e8)
        elif k < 0.75:
            m = rnd.getrandbits(60)
            yield "%d.%de%d" % (m // 1000, m % 1000, rnd.randint(-40, 40))
        elif k < 0.85:
            yield "%.*f" % (rnd.randint(0, 25), rnd.uniform(-1e5, 1e5))
        elif k < 0.95:
            yield "%.*e" % (rnd.randint(0, 22), rnd.uniform(-1, 1) * 10 ** rnd.randint(-300, 300))
        else:
            yield rnd.choice(["1e400", "-1e400", "1e-400", "0.0", "-0.0", "5e-324", "1.7976931348623157e308",
                              "9007199254740993.0", "37170565924641696.0", "123456789012345678901234567890.5",
                              "0.1e1", "100.0E-2", "1E+2"])
prev, seq, batch = "0" * 64, 0, []
with open(sys.argv[1], "w") as f:
    for t in tokens():
        batch.append(t)
        if len(batch) < 8:
            continue
        text = ('{"seq": %d, "client": "t", "nonce": %d, "op": "put", "payload": {"doc": {%s}}, "ts": %s, '
                '"idem": null, "prev_hash": "%s", "hash": "HASH"}') % (
            seq, seq + 1, ", ".join('"k%d": %s' % (i, x) for i, x in enumerate(batch)), batch[0], prev)
        o = json.loads(text)
        body = {k: o[k] for k in ("seq", "client", "nonce", "op", "payload", "ts", "idem")}
        prev = hashlib.blake2b(prev.encode() + json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
                               digest_size=32).hexdigest()
        f.write(text.replace("HASH", prev) + "\n")
        seq, batch = seq + 1, []
};
my $floats = "$tmp/floats.aof";
my ($gout, $gerr) = ('', '');
IPC::Run::run([ 'python3', '-c', $gen, $floats ], '>', \$gout, '2>', \$gerr) or die "python3: $gerr";
($rc, $out) = nedb('verify-aof', $floats);
is($rc, 0, 'verify-aof: 40,000 floats in every spelling canonicalized as Python does');
($rc, $out) = nedb('verify-aof', '-j', '1', $floats);
is($rc, 0, 'verify-aof -j 1: the same in one thread');

# where two threads' chunks meet (the first thread's chunk is 45% of the
# file), a line removed or its hash changed is named as a single pass names
# it; around the middle too
my @fl = split /\n/, slurp_file($floats);
my ($cut, $mid) = (int(@fl * 0.45), int(@fl / 2));
for my $at ($cut - 2 .. $cut + 2, $mid - 1 .. $mid + 1)
{
	my @cut = @fl;
	splice @cut, $at, 1;
	my $f = write_lines("cut-$at.aof", @cut);
	my ($rc1, $out1) = nedb('verify-aof', '-j', '1', $f);
	my ($rc2, $out2) = nedb('verify-aof', '-j', '2', $f);
	like($out2, qr/line ${\($at + 1)} \(seq ${\($at + 1)}\): seq ${\($at + 1)} where seq $at was due/,
		"two threads: line " . ($at + 1) . " removed is named");
	is("$rc2 $out2", "$rc1 $out1", "two threads report what one reports (line " . ($at + 1) . " removed)");
	my @chg = @fl;
	$chg[$at] =~ s/("hash": "[0-9a-f]{20})([0-9a-f])/$1 . sprintf('%x', hex($2) ^ 8)/e or die;
	$f = write_lines("chg-$at.aof", @chg);
	($rc1, $out1) = nedb('verify-aof', '-j', '1', $f);
	($rc2, $out2) = nedb('verify-aof', '-j', '2', $f);
	like($out2, qr/line ${\($at + 1)} \(seq $at\): its hash/, "two threads: line " . ($at + 1) . "'s hash changed is named");
	is("$rc2 $out2", "$rc1 $out1", "two threads report what one reports (line " . ($at + 1) . " changed)");
}

# an old op's fields rewritten, its hash left alone
$node->safe_psql('main', q{UPDATE nedb.versions SET doc = jsonb_set(doc, '{name}', '"Mallory"') WHERE seq_from = 4});
($rc, $out) = nedb('-d', $cs, 'verify', '--state', $state, '--full');
is($rc, 1, 'verify --full, a document rewritten: exit 1');
like($out, qr/^FAILED: seq 4: its hash .* is not the hash of its fields/, 'verify --full names the seq');
($rc, $out) = nedb('-d', $cs, 'get', 'users', 'u5', '--verify', '--state', $state);
is($rc, 1, 'get --verify of the rewritten document: exit 1');
like($out, qr/^FAILED: seq 4: /, 'get --verify names the seq');
($rc, $out) = nedb('-d', $cs, 'get', 'users', 'u6', '--verify', '--state', $state);
is($rc, 0, 'get --verify of another document: exit 0');
{
	local $ENV{NEDB_STATE} = $state;
	($rc) = nedb('-d', $cs, 'get', 'users', 'u6', '--verify');
	is($rc, 0, 'get --verify: NEDB_STATE names the state file');
}
$node->safe_psql('main', q{
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
UPDATE nedb.versions SET doc = jsonb_set(doc, '{name}', '"User 5"') WHERE seq_from = 4;
UPDATE nedb.ops SET ts = ts + 1 WHERE seq = 12;
ALTER TABLE nedb.ops ENABLE TRIGGER ops_append_only;
});
($rc, $out) = nedb('-d', $cs, 'verify', '--state', $state, '--full');
like($out, qr/^FAILED: seq 12: /, 'verify --full: an op\'s ts rewritten is named');
is($rc, 1, 'verify --full, ts rewritten: exit 1');

# ---------------------------------------------------------------------------
# a forged history, self-consistent on the server
# ---------------------------------------------------------------------------
my $fcs = new_db('forge');
my $fstate = "$tmp/forge.state";
($rc) = nedb('-d', $fcs, 'verify', '--state', $fstate);
is($rc, 0, 'forge: first verify');
more_writes('forge', 1, 20);
($rc) = nedb('-d', $fcs, 'verify', '--state', $fstate);
is($rc, 0, 'forge: verify after more writes');

# the forger: op 7 renamed, every hash from it on and the whole tree rebuilt
my $faof = "$tmp/forge.aof";
($rc, $out) = nedb('-d', $fcs, 'export');
PostgreSQL::Test::Utils::append_to_file($faof, $out);
my $forger = q{
import hashlib, json, sys
def H(b):
    return hashlib.blake2b(b, digest_size=32).digest()
ops = [json.loads(l) for l in open(sys.argv[1])]
k = int(sys.argv[2])
ops[k]['payload']['doc']['name'] = 'Forged'
prev = '0' * 64
sql = ["ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;",
       "UPDATE nedb.versions SET doc = jsonb_set(doc, '{name}', '\"Forged\"') WHERE seq_from = %d;" % k]
for o in ops:
    body = {f: o.get(f) for f in ('seq', 'client', 'nonce', 'op', 'payload', 'ts', 'idem')}
    for f in ('caused_by', 'evidence', 'confidence', 'valid_from', 'valid_to'):
        if o.get(f) is not None:
            body[f] = o[f]
    h = hashlib.blake2b(prev.encode() + json.dumps(body, sort_keys=True, separators=(',', ':')).encode(),
                        digest_size=32).hexdigest()
    if o['seq'] >= k:
        sql.append("UPDATE nedb.ops SET hash = '\\\\x%s' WHERE seq = %d;" % (h, o['seq']))
    o['hash'] = prev = h
sql.append("DELETE FROM nedb.log_tree;")
frontier = {}
for n, o in enumerate(ops):
    cur = H(b'\x00' + bytes.fromhex(o['hash']))
    nodes = [cur]
    level = 0
    while n & (1 << level):
        cur = H(b'\x01' + frontier[level] + cur)
        nodes.append(cur)
        level += 1
    frontier[level] = cur
    if level > 0:
        sql.append("INSERT INTO nedb.log_tree VALUES (%d, '\\\\x%s');" % (n, b''.join(nodes).hex()))
sql.append("ALTER TABLE nedb.ops ENABLE TRIGGER ops_append_only;")
print("\n".join(sql))
};
my ($fsql, $ferr) = ('', '');
IPC::Run::run([ 'python3', '-c', $forger, $faof, '7' ], '>', \$fsql, '2>', \$ferr) or die "forger: $ferr";
$node->safe_psql('forge', "BEGIN;\n$fsql\nCOMMIT;");
is($node->safe_psql('forge', q{SELECT nedb.get('users', 'u8')->>'name'}), 'Forged', 'forge: the document is forged');
is($node->safe_psql('forge', 'SELECT nedb.verify()'), 't', 'forge: the server\'s own chain check passes');
is($node->safe_psql('forge', 'SELECT ok FROM nedb.verify_tree()'), 't', 'forge: the server\'s own tree check passes');
($rc, $out) = nedb('-d', $fcs, 'verify', '--state', $fstate);
is($rc, 1, 'forge: verify --state fails');
like($out, qr/not a prefix of today's.*\nFAILED: seq 7: the op's hash is not the one verified before/s,
	'forge: verify --state names the rewritten seq');
($rc, $out) = nedb('-d', $fcs, 'verify', '--state', $fstate, '--full');
is($rc, 1, 'forge: verify --full fails');
like($out, qr/^FAILED: seq 7: the op's hash is not the one verified/, 'forge: verify --full names the seq');
($rc, $out) = nedb('-d', $fcs, 'get', 'users', 'u8', '--verify', '--state', $fstate);
is($rc, 1, 'forge: get --verify of the forged document fails against the verified root');
($rc) = nedb('-d', $fcs, 'verify', '--state', "$tmp/forge-fresh.state");
is($rc, 0, 'forge: a fresh state trusts the forged log (trust on first use)');

# ---------------------------------------------------------------------------
# a dropped op
# ---------------------------------------------------------------------------
my $dcs = new_db('dropped');
my $dstate = "$tmp/dropped.state";
($rc) = nedb('-d', $dcs, 'verify', '--state', $dstate);
is($rc, 0, 'dropped: first verify');
$node->safe_psql('dropped', q{
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
DELETE FROM nedb.ops WHERE seq = 11;
ALTER TABLE nedb.ops ENABLE TRIGGER ops_append_only;
});
($rc, $out) = nedb('-d', $dcs, 'verify', '--state', $dstate, '--full');
is($rc, 1, 'dropped: verify --full fails');
like($out, qr/^FAILED: seq 11: seq 12 where seq 11 was due \(ops are missing\)/, 'dropped: verify --full names the seq');
($rc, $out) = nedb('-d', $dcs, 'verify', '--state', "$tmp/dropped-fresh.state");
is($rc, 1, 'dropped: a first verify fails too');

# ---------------------------------------------------------------------------
# signed digests
# ---------------------------------------------------------------------------
my $pub = $node->safe_psql('main', 'SELECT public_key FROM nedb.signing_key()');
my $dg = $node->safe_psql('main', 'SELECT nedb.sign_digest()');
my $dfile = "$tmp/digest.json";
PostgreSQL::Test::Utils::append_to_file($dfile, $dg);
($rc, $out) = nedb('verify-digest', $dfile, '--key', $pub);
is($rc, 0, 'verify-digest: a signed digest passes');
like($out, qr/^ok: digest signed by key [0-9a-f]{16}\ntree_size \d+\n/, 'verify-digest: what it checked');
my $n = 0;
for my $field ('root', 'head', 'signature')
{
	my $bad = $dg;
	$bad =~ s/("$field": "[0-9a-f]{10})([0-9a-f])/$1 . sprintf('%x', hex($2) ^ 1)/e or die;
	my $f = "$tmp/bad-$field.json";
	PostgreSQL::Test::Utils::append_to_file($f, $bad);
	($rc, $out) = nedb('verify-digest', $f, '--key', $pub);
	is($rc, 1, "verify-digest: a bit of $field flipped is refused");
}
my $bad = $dg;
$bad =~ s/"tree_size": (\d+)/'"tree_size": ' . ($1 + 1)/e;
PostgreSQL::Test::Utils::append_to_file("$tmp/bad-size.json", $bad);
($rc) = nedb('verify-digest', "$tmp/bad-size.json", '--key', $pub);
is($rc, 1, 'verify-digest: another tree size is refused');
my $other = substr($pub, 0, 63) . sprintf('%x', hex(substr($pub, 63)) ^ 1);
($rc, $out) = nedb('verify-digest', $dfile, '--key', $other);
is($rc, 1, 'verify-digest: another key is refused');

# ---------------------------------------------------------------------------
# usage and connection errors: status 2
# ---------------------------------------------------------------------------
($rc, $out) = nedb('--help');
like($out, qr/^NAME\n.*SYNOPSIS.*DESCRIPTION.*COMMANDS.*OPTIONS.*EXIT STATUS/s, '--help: a manual page');
($rc) = nedb('frobnicate');
is($rc, 2, 'an unknown command: exit 2');
($rc) = nedb('-d', $cs, 'verify');
is($rc, 2, 'verify without --state: exit 2');
($rc) = nedb('-d', 'host=/nonexistent port=1', 'status');
is($rc, 2, 'no server: exit 2');
($rc) = nedb('verify-aof', "$tmp/no-such-file");
is($rc, 2, 'verify-aof of a missing file: exit 2');

$node->stop;
done_testing();
