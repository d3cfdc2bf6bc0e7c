/*
 * walbuf.c - the writer connection's WAL writes gathered into writes of up
 * to 64 KiB: a SQLite VFS ("payd-walbuf") over the default one that
 * changes nothing but how the writer's WAL file is written.
 *
 * Why: SQLite writes a commit's WAL frames one call at a time, a 24-byte
 * frame header and then its 4 KiB page, so a batch of ~30 payments (~165
 * frames) made ~330 pwrite calls on the writer thread, each a trip through
 * the kernel's file-write path for a page already touched by the one
 * before (bench/RESULTS.md, round 13). Here consecutive writes to the WAL
 * are copied into one buffer (PAY_WALBUF_BYTES) and written with one
 * pwrite when it is full or when SQLite next needs them in the file.
 *
 * When the buffer reaches the file (so nothing else ever sees the WAL
 * without them):
 * - at the commit's sync, which SQLite makes after the commit's last frame
 *   and before it publishes the frames to readers (the wal-index header).
 *   The writer runs synchronous=FULL for that call alone: a sync asked for
 *   with SQLITE_SYNC_NORMAL (the commit's; see sqlite.c, Durability) only
 *   writes the buffer out, because the syncer thread fdatasync()s the WAL
 *   before any of the batch's callers is answered, as without this file;
 * - at any other sync (the new WAL header's after a restart, a checkpoint's:
 *   checkpoint_fullfsync makes those SQLITE_SYNC_FULL), which is then made,
 *   as SQLite asked;
 * - before any read, size, truncation, file control or close of the WAL, and
 *   before a write that does not follow the buffer (SQLite writing a frame
 *   again, or starting the file over), which then goes straight to the file;
 * - when the next write would not fit (PAY_WALBUF_BYTES).
 * A failed write out is SQLite's I/O error on the call that made it.
 *
 * Every other file (the database, the shared-memory index) is the default
 * VFS's own, opened in place: the VFS adds nothing to them.
 *
 * Threading: a WAL file is used by the connection that opened it, here the
 * writer thread alone; the VFS itself is registered once (pthread_once).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

struct walbuf_file {
    sqlite3_file base;   /* pMethods = &walbuf_methods */
    sqlite3_file *real;  /* the default VFS's file, just after this struct */
    unsigned char *data; /* PAY_WALBUF_BYTES, made on the first write */
    sqlite3_int64 off;   /* the file offset of data[0] */
    size_t len;          /* bytes waiting in data */
};

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *default_vfs;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static struct walbuf_file *wf(sqlite3_file *f)
{
    return (struct walbuf_file *)f;
}

/* Write what waits in the buffer to the file. */
static int flush(struct walbuf_file *f)
{
    if (f->len == 0) {
        return SQLITE_OK;
    }
    int rc = f->real->pMethods->xWrite(f->real, f->data, (int)f->len, f->off);
    f->len = 0;
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    struct walbuf_file *f = wf(file);
    int rc = flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    free(f->data);
    f->data = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    struct walbuf_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int wb_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
    struct walbuf_file *f = wf(file);
    size_t n = (size_t)amt;
    bool follows = f->len > 0 && off == f->off + (sqlite3_int64)f->len;
    if (f->len > 0 && (!follows || f->len + n > PAY_WALBUF_BYTES)) {
        int rc = flush(f);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    if (n > PAY_WALBUF_BYTES) {
        return f->real->pMethods->xWrite(f->real, buf, amt, off);
    }
    if (f->data == NULL && (f->data = malloc(PAY_WALBUF_BYTES)) == NULL) {
        return f->real->pMethods->xWrite(f->real, buf, amt, off);
    }
    if (f->len == 0) {
        f->off = off;
    }
    memcpy(f->data + f->len, buf, n);
    f->len += n;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct walbuf_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    struct walbuf_file *f = wf(file);
    int rc = flush(f);
    if (rc != SQLITE_OK || (flags & 0x0f) == SQLITE_SYNC_NORMAL) {
        return rc; /* a commit's: the syncer thread syncs (see the top) */
    }
    return f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct walbuf_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int level)
{
    return wf(file)->real->pMethods->xLock(wf(file)->real, level);
}

static int wb_unlock(sqlite3_file *file, int level)
{
    return wf(file)->real->pMethods->xUnlock(wf(file)->real, level);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    return wf(file)->real->pMethods->xCheckReservedLock(wf(file)->real, out);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    struct walbuf_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    return wf(file)->real->pMethods->xSectorSize(wf(file)->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
    return wf(file)->real->pMethods->xDeviceCharacteristics(wf(file)->real);
}

/* A WAL file has no shared memory and no mapping of its own: never called. */
static int wb_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **out)
{
    (void)file, (void)pg, (void)pgsz, (void)extend;
    *out = NULL;
    return SQLITE_IOERR_SHMMAP;
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    (void)file, (void)offset, (void)n, (void)flags;
    return SQLITE_IOERR_SHMLOCK;
}

static void wb_shm_barrier(sqlite3_file *file)
{
    (void)file;
}

static int wb_shm_unmap(sqlite3_file *file, int delete_flag)
{
    (void)file, (void)delete_flag;
    return SQLITE_OK;
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    (void)file, (void)off, (void)amt;
    *out = NULL; /* "no mapping": SQLite reads instead */
    return SQLITE_OK;
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    (void)file, (void)off, (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods walbuf_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    (void)vfs;
    if ((flags & SQLITE_OPEN_WAL) == 0) {
        /* Not a WAL: the default VFS's file, in the same place. */
        return default_vfs->xOpen(default_vfs, name, file, flags, out_flags);
    }
    struct walbuf_file *f = wf(file);
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    int rc = default_vfs->xOpen(default_vfs, name, f->real, flags, out_flags);
    /* SQLite calls xClose only on a file whose pMethods is set. */
    f->base.pMethods = f->real->pMethods != NULL ? &walbuf_methods : NULL;
    return rc;
}

static void register_vfs(void)
{
    default_vfs = sqlite3_vfs_find(NULL);
    if (default_vfs == NULL) {
        return;
    }
    walbuf_vfs = *default_vfs;
    walbuf_vfs.zName = PAY_WALBUF_VFS;
    walbuf_vfs.szOsFile = (int)sizeof(struct walbuf_file) + default_vfs->szOsFile;
    walbuf_vfs.xOpen = wb_open;
    walbuf_vfs.pNext = NULL;
    register_rc = sqlite3_vfs_register(&walbuf_vfs, 0);
}

const char *pay_walbuf_vfs(void)
{
    pthread_once(&register_once, register_vfs);
    return register_rc == SQLITE_OK ? PAY_WALBUF_VFS : NULL;
}
