//! `hearth collections`: named sets of folders and files within the library.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use hearth::Config;

use crate::open_library;

#[derive(Subcommand)]
pub(crate) enum CollectionsCommand {
    /// The collections, with their folders and what they hold (the default).
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add folders or files to a collection, creating it if needed (index them with
    /// `hearth ingest`, or `hearth ingest --collection NAME PATH...` to do both).
    Add {
        /// Collection name.
        name: String,
        /// Folders or files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Take folders or files out of a collection (their documents stay in the library).
    Remove {
        /// Collection name.
        name: String,
        /// Folders or files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Rename a collection.
    Rename {
        /// Its name now.
        old: String,
        /// The new name.
        new: String,
    },
    /// Delete a collection (its documents stay in the library).
    Delete {
        /// Collection name.
        name: String,
    },
}

pub(crate) async fn run(config: Config, command: Option<CollectionsCommand>) -> Result<i32> {
    let library = open_library(config).await?;
    match command.unwrap_or(CollectionsCommand::List { json: false }) {
        CollectionsCommand::List { json } => {
            let stats = library.collection_stats().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else if stats.is_empty() {
                println!("No collections yet: `hearth collections add NAME FOLDER...` makes one.");
            } else {
                for c in &stats {
                    println!(
                        "{}  ({} documents, {} chunks)",
                        c.name, c.documents, c.chunks
                    );
                    for p in &c.paths {
                        println!("  {p}");
                    }
                }
            }
        }
        CollectionsCommand::Add { name, paths } => {
            let c = library.add_to_collection(&name, &paths).await?;
            println!("{}: {} folder(s) or file(s)", c.name, c.paths.len());
        }
        CollectionsCommand::Remove { name, paths } => {
            let c = library.remove_from_collection(&name, &paths).await?;
            println!("{}: {} folder(s) or file(s)", c.name, c.paths.len());
        }
        CollectionsCommand::Rename { old, new } => {
            let c = library.rename_collection(&old, &new).await?;
            println!("renamed to {}", c.name);
        }
        CollectionsCommand::Delete { name } => {
            library.delete_collection(&name).await?;
            println!("deleted {}; its documents stay in the library", name.trim());
        }
    }
    Ok(0)
}
