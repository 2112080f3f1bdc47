//! `gilsim bench`: prints the figures of [`gilsim::bench`].

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use gilsim::bench::{run_all, BenchSize, Figure};
use gilsim::engine::Engine;
use gilsim::error::{Error, RunError};

pub fn bench(quick: bool, json: bool, model: bool) -> Result<(), Error> {
    if model {
        return model_bench(quick, json);
    }
    let c = Engine::Real.calibrate().map_err(RunError::Calibration)?;
    let size = if quick {
        BenchSize::QUICK
    } else {
        BenchSize::FULL
    };
    let exe = std::env::current_exe().ok();
    let figs = run_all(size, c, exe.as_deref(), &|section| {
        eprintln!("bench: {section}…")
    })?;
    if json {
        let out = serde_json::json!({ "cores": gilsim::options::available_cores(), "cpu_kernel_iters_per_us": c.iters_per_us, "figures": figs });
        println!("{out}");
    } else {
        println!(
            "gilsim {} bench on {} cores (kernel {:.1} iters/µs)",
            env!("CARGO_PKG_VERSION"),
            gilsim::options::available_cores(),
            c.iters_per_us
        );
        println!("{}", table(&figs));
    }
    Ok(())
}

/// `gilsim bench --model`: the model engine's speed, SimPy beside it when
/// `python/simpy_reference.py` and python3 with simpy are there.
fn model_bench(quick: bool, json: bool) -> Result<(), Error> {
    let script = std::path::Path::new("python/simpy_reference.py");
    let figs = gilsim::model::bench::figures(quick, script.exists().then_some(script), &|s| {
        eprintln!("bench: {s}…")
    })?;
    if json {
        println!("{}", serde_json::json!({ "figures": figs }));
    } else {
        println!("gilsim {} bench --model", env!("CARGO_PKG_VERSION"));
        println!("{}", table(&figs));
    }
    Ok(())
}

fn table(figs: &[Figure]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["section", "figure", "value", "goal", "met"]);
    for f in figs {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        t.add_row([
            f.section.to_string(),
            f.name.clone(),
            format!("{:.2} {}", f.value, f.unit),
            f.goal.clone(),
            met.to_string(),
        ]);
    }
    if let Some(c) = t.column_mut(2) {
        c.set_cell_alignment(CellAlignment::Right);
    }
    t
}
