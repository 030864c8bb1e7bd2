# NedbTest.pm -- helpers shared by NEDB's TAP tests.
#
#   use FindBin;
#   use lib $FindBin::RealBin;
#   use NedbTest;
#   $NedbTest::node = $node;    # the cluster q1() talks to
package NedbTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils;
use Test::More ();
use Time::HiRes qw(usleep);

our @EXPORT = qw(q1 sql_array check_btree_indexes);
our $node;

# run one query; on failure die with the query and any crash in the server log
sub q1
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return $out if $ret == 0;
	# the postmaster logs a crashed backend a moment after the client notices
	my @bad;
	for (1 .. 30)
	{
		@bad = grep { /terminated by (?:signal|exception)|PANIC|TRAP:/ } split /\n/,
		  slurp_file($node->logfile);
		last if @bad || $ret != 2;
		usleep(100_000);
	}
	die "query failed (psql exit $ret): "
	  . substr($sql, 0, 300)
	  . "\n$err\n"
	  . join("\n", "server log:", @bad) . "\n";
}

# a text[] literal of the given values (undef as NULL)
sub sql_array
{
	my @v = @_;
	return "ARRAY[]::text[]" unless @v;
	return "ARRAY[" . join(',', map { defined $_ ? "'$_'" : 'NULL' } @v) . "]::text[]";
}

# every B-tree index of the store is consistent and indexes every heap tuple
# (amcheck), and the three structural ones exist
sub check_btree_indexes
{
	my ($label) = @_;
	my $btree = "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
	  . " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam"
	  . " WHERE n.nspname = 'nedb' AND a.amname = 'btree'";
	my $all = q1("SELECT count(*) $btree");
	Test::More::is(
		q1(     "SELECT (SELECT count(*) $btree AND bt_index_check(i.indexrelid, true) IS NOT NULL)"
			  . " || '/' || (SELECT count(*) $btree)"
			  . " || '/' || (SELECT count(*) $btree AND c.relname IN ('ops_pkey', 'versions_pkey', 'versions_key'))"),
		"$all/$all/3",
		"$label: amcheck finds every nedb B-tree index consistent with its table");
}

1;
