//! `lookalike info`

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use lookalike::index::Component;
use lookalike::Index;
use serde_json::json;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(index_dir: &Path, args: Args) -> Result<ExitCode> {
    let index = Index::open(index_dir)?;
    let m = index.manifest();
    // The generation's files, each with its size.
    let files: Vec<(Component, u64)> = Component::ALL
        .iter()
        .filter_map(|&c| {
            let f = c.in_manifest(m)?;
            Some((c, std::fs::metadata(index_dir.join(f)).ok()?.len()))
        })
        .collect();
    let bytes: u64 = files.iter().map(|(_, b)| b).sum();
    let per_product = |b: u64| b as f64 / index.len().max(1) as f64;
    // What an unfiltered scan reads of every product: its codes and scales.
    let scan_bytes: u64 = files
        .iter()
        .filter(|(c, _)| matches!(c, Component::Codes | Component::Scales))
        .map(|(_, b)| b)
        .sum();
    let rss = lookalike::bench::resident_bytes();
    let labelled = index
        .products()
        .iter()
        .filter(|p| !p.labels.is_empty())
        .count();
    let facets: serde_json::Map<String, serde_json::Value> =
        ["gender", "masterCategory", "articleType", "baseColour"]
            .iter()
            .filter(|f| index.payload().field_name(f).is_some())
            .map(|f| (f.to_string(), json!(index.payload().facet(f).len())))
            .collect();
    let head = index.head().map(|h| {
        json!({
            "file": m.head_file,
            "hash": h.hash,
            "dims": { "shape": h.info.shape_dim, "instance": h.info.instance_dim,
                      "colour": h.info.colour_dim, "instance_weight": h.info.instance_weight },
            "tasks": h.info.tasks.iter().map(|t| json!({"field": t.field, "classes": t.classes.len()})).collect::<Vec<_>>(),
            "training": h.info.training,
        })
    });
    let (layout, search) = (index.row_layout(), index.search_layout());
    let info = json!({
        "products": index.len(),
        "labelled": labelled,
        "generation": m.generation,
        "format_version": m.version,
        "model": {
            "name": m.embedder.model,
            "hash": m.embedder.model_hash,
            "input_size": m.embedder.input_size,
            "fit": m.embedder.fit,
            "output": m.embedder.output,
            "taps": m.embedder.taps,
        },
        "dims": { "cnn": layout.cnn, "colour": layout.colour, "taps": layout.taps,
                  "head_colour": layout.head_colour },
        "transform": index.transform().name(),
        "stored_rows": if index.has_stored_rows() { json!(m.stored_precision) } else { json!(null) },
        "search_dims": { "shape": search.shape, "colour": search.colour },
        "head": head,
        "colour": m.embedder.colour,
        "head_colour": m.embedder.head_colour,
        "fields": m.fields,
        "distinct_values": facets,
        "catalog": m.catalog_root,
        "bytes_on_disk": bytes,
        "bytes_per_product": {
            "disk": per_product(bytes),
            "files": files.iter().map(|(c, b)| (c.name().to_string(), json!(per_product(*b)))).collect::<serde_json::Map<_, _>>(),
            "read_by_a_scan": per_product(scan_bytes),
        },
        "resident_bytes_after_open": rss,
        "backend": lookalike::embedding::current_backend(),
        "search_backend": search_backend(&index),
        "committed_at": m.committed_at,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("index       {}", index_dir.display());
    println!("products    {} ({} labelled)", index.len(), labelled);
    println!("generation  {}", m.generation);
    println!("model       {}", m.embedder);
    println!(
        "backend     {} (runs this machine's queries)",
        lookalike::embedding::current_backend()
    );
    println!(
        "dimensions  {} cnn + {} colour + {} taps (pooled {}){}",
        layout.cnn,
        layout.colour,
        layout.taps,
        if m.embedder.taps.is_empty() {
            "none".to_string()
        } else {
            m.embedder.taps.join(", ")
        },
        match &m.embedder.head_colour {
            Some(c) => format!(" + {} head colour ({c})", layout.head_colour),
            None => String::new(),
        }
    );
    println!(
        "search      {} rows of {} shape + {} colour",
        index.transform().name(),
        search.shape,
        search.colour
    );
    match index.ann() {
        Some(g) => {
            let i = g.info();
            println!(
                "ANN         {} graph (--ann {}): M {}, ef_construction {}, ef {}; {} rows, {} deleted slots, {:.0} bytes per product",
                i.engine,
                m.ann_mode,
                i.params.connectivity,
                i.params.expansion_add,
                i.params.expansion_search,
                i.rows,
                i.deleted,
                i.bytes as f64 / i.rows.max(1) as f64
            );
        }
        None => println!(
            "ANN         none (--ann {}): every search is the exact scan",
            m.ann_mode
        ),
    }
    if index.has_stored_rows() {
        println!(
            "stored rows {} ({} values each; --stored-rows f16 halves them)",
            m.stored_precision,
            layout.dim()
        );
    } else {
        println!("stored rows none (search rows only: can be searched, not updated or trained)");
    }
    match index.head() {
        Some(h) => println!(
            "head        trained ({}): {} learned shape + {} instance + {} learned colour dims; recognises {}",
            m.head_file.as_deref().unwrap_or("?"),
            h.info.shape_dim,
            h.info.instance_dim,
            h.info.colour_dim,
            h.info
                .tasks
                .iter()
                .map(|t| t.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => println!("head        none (zero-shot features)"),
    }
    println!("catalogue   {}", m.catalog_root.display());
    println!("fields      {}", m.fields.join(", "));
    println!(
        "on disk     {:.1} MiB, {:.0} bytes per product ({})",
        bytes as f64 / (1 << 20) as f64,
        per_product(bytes),
        files
            .iter()
            .map(|(c, b)| format!("{} {:.0}", c.name(), per_product(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "in memory   {} resident after opening; a scan reads {:.0} bytes per product (codes and scales)",
        rss.map_or("unknown".to_string(), |r| format!("{:.1} MiB", r as f64 / (1 << 20) as f64)),
        per_product(scan_bytes)
    );
    Ok(ExitCode::SUCCESS)
}

/// The search backend of `index`, for `info --json`.
fn search_backend(index: &Index) -> serde_json::Value {
    let mode = index.manifest().ann_mode;
    match index.ann() {
        Some(g) => json!({ "kind": "ann", "ann_mode": mode, "graph": g.info() }),
        None => json!({ "kind": "exact", "ann_mode": mode }),
    }
}
