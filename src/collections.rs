//! Collections: named sets of folders and files within one library ("Work", "Thesis",
//! "Recipes"). A collection is a list of roots kept in `<data dir>/collections.json`; a document
//! belongs to every collection with a root at or above its path. Documents are stored once
//! whatever the number of collections they are in, so creating, renaming or deleting a
//! collection never touches the index, and a rebuild keeps them all.
//!
//! Changes are read-modify-write of the file under the library's write lock, written atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::ingest::under;
use crate::library::Library;
use crate::store::sql_string;

const FILE: &str = "collections.json";
const MAX_NAME_CHARS: usize = 64;

/// A named set of folders and files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// Shown to people; unique in the library (ignoring case).
    pub name: String,
    /// Absolute paths of folders and files; everything indexed under them belongs here.
    pub paths: Vec<String>,
}

/// A collection with what it holds now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionInfo {
    /// Name.
    pub name: String,
    /// Folders and files.
    pub paths: Vec<String>,
    /// Indexed documents under them.
    pub documents: usize,
    /// Their chunks.
    pub chunks: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CollectionsFile {
    collections: Vec<Collection>,
}

fn read(data_dir: &Path) -> Result<Vec<Collection>> {
    let path = data_dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<CollectionsFile>(&bytes)
            .map(|f| f.collections)
            .map_err(|e| {
                Error::Config(format!(
                    "{} is damaged ({e}); fix or delete it (the index does not depend on it)",
                    path.display()
                ))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::DataDir {
            path: data_dir.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn write(data_dir: &Path, collections: Vec<Collection>) -> Result<()> {
    let json = serde_json::to_vec_pretty(&CollectionsFile { collections })
        .map_err(|e| Error::Internal(e.to_string()))?;
    crate::durable::write_atomic(&data_dir.join(FILE), &json).map_err(|e| Error::DataDir {
        path: data_dir.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A collection name as given, trimmed; refused when empty, too long or with control chars.
pub fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidRequest("a collection needs a name".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::InvalidRequest(format!(
            "a collection name has at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "a collection name cannot hold control characters".into(),
        ));
    }
    Ok(name)
}

fn find(list: &[Collection], name: &str) -> Option<usize> {
    let name = name.trim().to_lowercase();
    list.iter().position(|c| c.name.to_lowercase() == name)
}

fn unknown(list: &[Collection], name: &str) -> Error {
    let mut names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    names.sort_by_key(|n| n.to_lowercase());
    Error::InvalidRequest(if names.is_empty() {
        format!(
            "no collection named \"{}\": this library has none yet",
            name.trim()
        )
    } else {
        format!(
            "no collection named \"{}\" (collections: {})",
            name.trim(),
            names.join(", ")
        )
    })
}

/// The path a root is kept as: absolute, resolved when it exists (as the ingest keys documents).
fn root_key(path: &Path) -> String {
    let abs = crate::ingest::absolute(path);
    std::fs::canonicalize(&abs)
        .unwrap_or(abs)
        .display()
        .to_string()
}

/// A LanceDB filter on `column` that keeps rows under any of `roots` (`None`: no roots, so
/// nothing can match).
pub(crate) fn filter(column: &str, roots: &[String]) -> Option<String> {
    let parts: Vec<String> = roots
        .iter()
        .map(|r| {
            let r = r.trim_end_matches('/');
            format!(
                "({column} = {} OR starts_with({column}, {}))",
                sql_string(r),
                sql_string(&format!("{r}/"))
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

/// Which documents a request may see.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scope {
    /// The whole library.
    All,
    /// Documents under these roots (none: nothing).
    Roots(Vec<String>),
}

impl Scope {
    pub(crate) fn filter(&self, column: &str) -> Option<Option<String>> {
        match self {
            Scope::All => Some(None),
            Scope::Roots(roots) => filter(column, roots).map(Some),
        }
    }
}

impl Library {
    /// The library's collections, by name.
    pub fn collections(&self) -> Result<Vec<Collection>> {
        let mut list = read(&self.config().data_dir)?;
        list.sort_by_key(|c| c.name.to_lowercase());
        Ok(list)
    }

    /// The collections with the documents and chunks each holds now.
    pub async fn collection_stats(&self) -> Result<Vec<CollectionInfo>> {
        let docs = self.documents().await?;
        Ok(self
            .collections()?
            .into_iter()
            .map(|c| {
                let inside = docs
                    .iter()
                    .filter(|d| c.paths.iter().any(|r| under(&d.path, r)));
                let (documents, chunks) =
                    inside.fold((0, 0), |(n, k), d| (n + 1, k + d.chunks.max(0) as usize));
                CollectionInfo {
                    name: c.name,
                    paths: c.paths,
                    documents,
                    chunks,
                }
            })
            .collect())
    }

    /// Add folders or files to a collection, creating it if there is none of that name.
    /// The paths are not indexed here (ingest them); whatever is indexed under them is in.
    pub async fn add_to_collection(&self, name: &str, paths: &[PathBuf]) -> Result<Collection> {
        let name = check_name(name)?;
        self.change_collections(|list| {
            let i = match find(list, name) {
                Some(i) => i,
                None => {
                    list.push(Collection {
                        name: name.to_string(),
                        paths: Vec::new(),
                    });
                    list.len() - 1
                }
            };
            for p in paths {
                let key = root_key(p);
                if !list[i].paths.contains(&key) {
                    list[i].paths.push(key);
                }
            }
            list[i].paths.sort();
            Ok(list[i].clone())
        })
        .await
    }

    /// Take folders or files out of a collection (the documents stay in the library).
    pub async fn remove_from_collection(
        &self,
        name: &str,
        paths: &[PathBuf],
    ) -> Result<Collection> {
        self.change_collections(|list| {
            let i = find(list, name).ok_or_else(|| unknown(list, name))?;
            let keys: Vec<String> = paths.iter().map(|p| root_key(p)).collect();
            let raw: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let before = list[i].paths.len();
            list[i]
                .paths
                .retain(|r| !keys.contains(r) && !raw.contains(r));
            if list[i].paths.len() == before {
                return Err(Error::InvalidRequest(format!(
                    "none of those paths is in the collection \"{}\"",
                    list[i].name
                )));
            }
            Ok(list[i].clone())
        })
        .await
    }

    /// Rename a collection.
    pub async fn rename_collection(&self, old: &str, new: &str) -> Result<Collection> {
        let new = check_name(new)?;
        self.change_collections(|list| {
            let i = find(list, old).ok_or_else(|| unknown(list, old))?;
            if find(list, new).is_some_and(|j| j != i) {
                return Err(Error::InvalidRequest(format!(
                    "there is already a collection named \"{new}\""
                )));
            }
            list[i].name = new.to_string();
            Ok(list[i].clone())
        })
        .await
    }

    /// Delete a collection. Its documents stay in the library (and in other collections).
    pub async fn delete_collection(&self, name: &str) -> Result<()> {
        self.change_collections(|list| {
            let i = find(list, name).ok_or_else(|| unknown(list, name))?;
            list.remove(i);
            Ok(())
        })
        .await
    }

    async fn change_collections<T>(
        &self,
        change: impl FnOnce(&mut Vec<Collection>) -> Result<T>,
    ) -> Result<T> {
        let _lock = self.write_lock(&|_| {}, &Cancel::new()).await?;
        let data_dir = &self.config().data_dir;
        let mut list = read(data_dir)?;
        let out = change(&mut list)?;
        write(data_dir, list)?;
        Ok(out)
    }

    /// What the named collections let a request see (no names: the whole library).
    pub(crate) fn scope(&self, names: &[String]) -> Result<Scope> {
        if names.is_empty() {
            return Ok(Scope::All);
        }
        let list = read(&self.config().data_dir)?;
        let mut roots = Vec::new();
        for name in names {
            let i = find(&list, name).ok_or_else(|| unknown(&list, name))?;
            roots.extend(list[i].paths.iter().cloned());
        }
        roots.sort();
        roots.dedup();
        Ok(Scope::Roots(roots))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_holds_itself_and_what_is_under_it_only() {
        assert!(under("/a/b", "/a/b"));
        assert!(under("/a/b/c.md", "/a/b"));
        assert!(under("/a/b/c/d.md", "/a/b/"));
        assert!(!under("/a/bc.md", "/a/b"));
        assert!(!under("/a", "/a/b"));
    }

    #[test]
    fn names_are_checked_and_found_ignoring_case() {
        assert_eq!(check_name("  Work ").unwrap(), "Work");
        assert!(check_name(" ").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a\nb").is_err());
        let list = vec![Collection {
            name: "Thesis".into(),
            paths: vec![],
        }];
        assert_eq!(find(&list, "thesis"), Some(0));
        assert!(unknown(&list, "Work").to_string().contains("Thesis"));
    }

    #[test]
    fn the_filter_quotes_paths() {
        let f = filter("doc_path", &["/x/it's".into()]).unwrap();
        assert_eq!(
            f,
            "(doc_path = '/x/it''s' OR starts_with(doc_path, '/x/it''s/'))"
        );
        assert_eq!(filter("doc_path", &[]), None);
    }
}
