/* A structural check of a shard's data.mdb before LMDB reads it.
 *
 * LMDB trusts the page numbers, node flags and sizes stored in its pages: one flipped byte in a
 * leaf or branch page makes mdb_get follow a wrong page, treat a record as a sub-database or hand
 * out a value that runs past the end of the file (SIGSEGV, SIGBUS). The record CRC32C only covers
 * the record bytes, not the B-tree that finds them. This check reads the file itself (pread, not
 * LMDB's map) and walks the main database's B-tree the way LMDB 0.9 lays it out on 64-bit hosts:
 * every branch and leaf page, every node, every overflow-page header. What m3ae writes uses only
 * plain nodes with 8-byte keys, inline or on overflow pages, so anything else is damage. */
#ifndef M3AE_IO_SHARD_CHECK_H
#define M3AE_IO_SHARD_CHECK_H

#include "common/error.h"

/* 0 when the B-tree of `path` (a data.mdb) is whole; -1 with err naming `name` and the page. */
int m3ae_shard_check_tree(const char *path, const char *name, m3ae_error *err);

#endif
