//! The durable half of storage, behind a seam: a [`Backend`] loads everything once at start and
//! commits groups of writes atomically and durably. [`Redb`] is the one implementation.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::StorageError;

/// One object's key on disk (`<group>/<plural>/<namespace>/<name>`) and its JSON, `None` to
/// remove it.
pub type Write<'a> = (&'a str, Option<&'a [u8]>);

/// Called with each stored key and document while loading.
pub type Visit<'a> = dyn FnMut(&str, &[u8]) -> Result<(), StorageError> + 'a;

/// Durable storage of JSON documents under string keys, plus the global resourceVersion.
pub trait Backend: Send + Sync {
    /// Calls `each` with every stored key and document, in key order; returns the stored
    /// resourceVersion (0 for a new store).
    fn load(&self, each: &mut Visit<'_>) -> Result<u64, StorageError>;

    /// Makes `writes` and the new resourceVersion durable in one atomic step: after a crash,
    /// either all of them are there or none.
    fn commit(&self, writes: &[Write<'_>], resource_version: u64) -> Result<(), StorageError>;
}

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RV_KEY: &str = "resourceVersion";

/// redb's page cache. Storage reads the file once, at start; after that redb reads only the
/// B-tree pages a commit walks to its keys, so the cache needs the branch pages (a few MiB at
/// 50,000 nodes) and the leaves being written, not the file. redb's default, 1 GiB, keeps
/// every page a commit writes until the cache is full: most of the process's memory at 5,000
/// nodes, spent on pages nothing reads again (BENCHMARKS.md, "Scale (issue 21)").
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// redb: one file, ACID transactions, fsync'd commits.
pub struct Redb {
    db: redb::Database,
}

impl Redb {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Redb, StorageError> {
        let db = redb::Database::builder().set_cache_size(CACHE_BYTES).create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(OBJECTS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Redb { db })
    }
}

impl Backend for Redb {
    fn load(&self, each: &mut Visit<'_>) -> Result<u64, StorageError> {
        let txn = self.db.begin_read()?;
        let rv = txn.open_table(META)?.get(RV_KEY)?.map(|v| v.value()).unwrap_or(0);
        for entry in txn.open_table(OBJECTS)?.iter()? {
            let (k, v) = entry?;
            each(k.value(), v.value())?;
        }
        Ok(rv)
    }

    fn commit(&self, writes: &[Write<'_>], resource_version: u64) -> Result<(), StorageError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(OBJECTS)?;
            for (key, json) in writes {
                match json {
                    Some(json) => {
                        table.insert(*key, *json)?;
                    }
                    None => {
                        table.remove(*key)?;
                    }
                }
            }
            txn.open_table(META)?.insert(RV_KEY, resource_version)?;
        }
        txn.commit()?;
        Ok(())
    }
}
