//! `lookalike train`: learn a head from the catalogue's labels and make the
//! index use it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use lookalike::index::recommit;
use lookalike::index::TransformChoice;
use lookalike::training::{train, Dataset, Phase, TrainOptions};
use lookalike::Index;

use crate::output::{accuracies, progress_bar, secs};

/// Arguments of `train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Most epochs (training stops earlier when validation stops improving).
    #[arg(long, default_value_t = TrainOptions::default().epochs)]
    epochs: usize,
    /// Epochs without improvement before stopping.
    #[arg(long, default_value_t = TrainOptions::default().patience)]
    patience: usize,
    /// Seed: the same seed on the same index gives the same head.
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    seed: u64,
    /// Hidden layer width.
    #[arg(long, default_value_t = TrainOptions::default().hidden_dim)]
    hidden_dim: usize,
    /// Width of the colour branch, which reads the colour descriptors and
    /// the taps (0: none).
    #[arg(long, default_value_t = TrainOptions::default().colour_hidden_dim)]
    colour_hidden_dim: usize,
    /// Decay of the moving average of the weights that is kept, 0..1 (0:
    /// the last step's weights).
    #[arg(long, default_value_t = TrainOptions::default().ema)]
    ema: f64,
    /// Dimensions of the shape part of the search rows.
    #[arg(long, default_value_t = TrainOptions::default().shape_dim)]
    shape_dim: usize,
    /// Dimensions of the colour part of the search rows.
    #[arg(long, default_value_t = TrainOptions::default().colour_dim)]
    colour_dim: usize,
    /// Dimensions of the instance part (PCA of the raw CNN features, kept
    /// so that a photo still finds its own product; 0: none).
    #[arg(long, default_value_t = TrainOptions::default().instance_dim)]
    instance_dim: usize,
    /// Share of the shape part given to the instance part, 0..1.
    #[arg(long, default_value_t = TrainOptions::default().instance_weight)]
    instance_weight: f32,
    /// Rows per step.
    #[arg(long, default_value_t = TrainOptions::default().batch_size)]
    batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    learning_rate: f64,
    /// Class balancing exponent: an example weighs count(class)^-b.
    #[arg(long, default_value_t = TrainOptions::default().class_balance)]
    class_balance: f32,
    /// Share of hidden units dropped per training step.
    #[arg(long, default_value_t = TrainOptions::default().dropout)]
    dropout: f32,
    /// Keep the first pass's best weights instead of training again on the
    /// training and validation products together for as many epochs (about
    /// halves training time; held-out accuracy about 0.004 lower on the
    /// Kaggle catalogue).
    #[arg(long)]
    no_refit: bool,
    /// Also learn from shopper photos: every `<kind>/*.jpg` of this folder
    /// (the layout of `eval --photos`) outside the test split is embedded as
    /// an upload is and learned as its kind's articleTypes.
    #[arg(long)]
    photos: Option<PathBuf>,
    /// How many times each photo's row joins an epoch's training rows (16:
    /// the best held-out shopper-photo P@10 of 8 and 16, docs/shopper-photos.md).
    #[arg(long, default_value_t = 16)]
    photo_repeat: usize,
    /// Rows made of each photo: 1 as uploaded; 2 also mirrored; 3 and 4
    /// also with the product's box jittered (seeded).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4))]
    photo_variants: u64,
    /// Where to write the head (safetensors).
    #[arg(long, default_value = "lookalike-head.safetensors")]
    out: PathBuf,
    /// Only write the head file; leave the index as it is.
    #[arg(long)]
    no_attach: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(index_dir: &Path, args: Args) -> Result<ExitCode> {
    let start = Instant::now();
    let opts = TrainOptions {
        epochs: args.epochs,
        patience: args.patience.max(1),
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        hidden_dim: args.hidden_dim,
        colour_hidden_dim: args.colour_hidden_dim,
        ema: args.ema,
        shape_dim: args.shape_dim,
        colour_dim: args.colour_dim,
        seed: args.seed,
        dropout: args.dropout,
        class_balance: args.class_balance,
        instance_dim: args.instance_dim,
        instance_weight: args.instance_weight,
        refit: !args.no_refit,
        ..TrainOptions::default()
    };
    let index = Index::open(index_dir)?;
    let mut data = Dataset::from_index(&index)?;
    if let Some(dir) = &args.photos {
        let rows = photo_rows(&index, dir, args.photo_variants as usize)?;
        let added = data.add_photos(&rows, args.photo_repeat)?;
        eprintln!(
            "learning from {added} rows of shopper photos of {} ({} per photo; the test split's photos are held out), each {} times an epoch",
            dir.display(),
            args.photo_variants,
            args.photo_repeat
        );
    }
    let fingerprint = index.fingerprint().clone();
    tracing::info!(
        "training on {} products ({} for validation, {} held out for testing); tasks: {}",
        data.train.len(),
        data.validation.len(),
        data.test.len(),
        data.tasks
            .iter()
            .map(|t| format!("{} ({} classes)", t.spec.field, t.spec.classes.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bar = progress_bar();
    let report = train(
        &data,
        &fingerprint,
        &opts,
        |e| {
            bar.suspend(|| match e.phase {
                Phase::Select => eprintln!(
                    "epoch {:>2}/{}  loss {:.4}  validation accuracy: {}  ({})",
                    e.epoch,
                    e.of,
                    e.loss,
                    accuracies(e.accuracy.iter().map(|(f, a)| (f, a))),
                    secs(e.took)
                ),
                Phase::Refit => eprintln!(
                    "refit epoch {:>2}/{}  loss {:.4}  (training + validation products; {})",
                    e.epoch,
                    e.of,
                    e.loss,
                    secs(e.took)
                ),
            });
        },
        |phase, step, steps| {
            bar.set_length(steps as u64);
            bar.set_position(step as u64);
            bar.set_message(match phase {
                Phase::Select => "training",
                Phase::Refit => "refitting on training + validation",
            });
        },
    )?;
    bar.finish_and_clear();
    report
        .head
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let attached = if args.no_attach {
        None
    } else {
        let bar = crate::output::progress_bar();
        let written = recommit(
            index_dir,
            TransformChoice::Head(Arc::new(report.head.clone())),
            &crate::output::BarProgress {
                bar: &bar,
                cancel: None,
            },
        )?;
        bar.finish_and_clear();
        Some(written)
    };
    if args.json {
        let out = serde_json::json!({
            "head": args.out,
            "best_epoch": report.best_epoch,
            "epochs": report.epochs,
            "refit_epochs": report.refit_epochs,
            "test_accuracy": report.test_accuracy,
            "generation": attached.as_ref().map(|m| m.generation),
            "seconds": start.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let refit = if report.refit_epochs.is_empty() {
        String::new()
    } else {
        format!(
            ", refitted on training + validation for {} epochs",
            report.refit_epochs.len()
        )
    };
    println!(
        "best epoch {} of {} run{refit}; test accuracy (held-out ids: {}): {}",
        report.best_epoch,
        report.epochs.len(),
        lookalike::split::TEST_SPLIT_RULE,
        accuracies(report.test_accuracy.iter().map(|(f, a)| (f, a)))
    );
    println!("head written to {}", args.out.display());
    match attached {
        Some(m) => println!(
            "index {} now searches with it (generation {}); done in {}",
            index_dir.display(),
            m.generation,
            secs(start.elapsed())
        ),
        None => println!("index left as it was; done in {}", secs(start.elapsed())),
    }
    Ok(ExitCode::SUCCESS)
}

/// The training split's shopper photos of `dir`, embedded as uploads are
/// (in `variants` seeded variants each), with their kind's articleTypes. A
/// photo that cannot be read is reported and skipped.
fn photo_rows(
    index: &Index,
    dir: &Path,
    variants: usize,
) -> Result<Vec<lookalike::training::PhotoRow>> {
    let photos: Vec<_> = lookalike::eval::shopper_photos(dir)?
        .into_iter()
        .filter(|p| !lookalike::split::is_test_id(&p.id()))
        .collect();
    let embedder = index.embedder()?;
    let bar = progress_bar();
    bar.set_length(photos.len() as u64);
    bar.set_message("embedding shopper photos");
    let (rows, skipped) =
        lookalike::training::photo_rows(index, &embedder, &photos, variants, &|| bar.inc(1));
    bar.finish_and_clear();
    for (path, why) in skipped {
        eprintln!("skipped {path}: {why}");
    }
    Ok(rows)
}
