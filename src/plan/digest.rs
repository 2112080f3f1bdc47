//! `plan_sha256` (SPEC §8): a SHA-256 of the resolved plan, so two reports
//! of the same experiment can be matched.
//!
//! Every draw of a plan (durations, open-loop arrivals, think times) is a
//! pure function of the seed, the group and job index, and the plan's
//! structure (see [`super::Plan::cursor`]). So the hash covers the inputs of
//! the draws, not the draws themselves: a canonical byte encoding of the
//! seed, the `[gil]` settings and every group (name, job count, arrival,
//! steps), plus [`DRAWS_VERSION`]. That costs the same for ten jobs as for a
//! million. Left out, because they do not change what runs: the config's
//! `name` (which defaults to the file's stem, so a copied file still
//! matches), its description, its path and the backends (reports of
//! different backends on one plan should match).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{Arrival, ArrivalProcess, DurationSpec, GilSettings, GroupSpec, Guard, Step};

/// The version of the way draws derive from the seed. Bump it whenever
/// that changes (a new stream layout, another sampling algorithm), so that
/// plans drawn differently never share a hash.
pub const DRAWS_VERSION: u64 = 1;

/// The hex SHA-256 of the plan `groups` and `gil` give with `seed`.
pub fn plan_sha256(seed: u64, gil: &GilSettings, groups: &[GroupSpec]) -> String {
    let mut c = Canon(Sha256::new());
    c.str("gilsim-plan");
    c.u64(DRAWS_VERSION);
    c.u64(seed);
    c.dur(gil.switch_interval);
    c.dur(gil.tick);
    c.u64(groups.len() as u64);
    for g in groups {
        c.group(g);
    }
    c.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A hasher fed an unambiguous encoding: fixed-width integers, strings
/// with their length, a tag before each variant.
struct Canon(Sha256);

impl Canon {
    fn u64(&mut self, x: u64) {
        self.0.update(x.to_le_bytes());
    }

    fn f64(&mut self, x: f64) {
        self.u64(x.to_bits());
    }

    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.update(s.as_bytes());
    }

    fn tag(&mut self, t: u8) {
        self.0.update([t]);
    }

    fn dur(&mut self, d: Duration) {
        self.u64(d.as_secs());
        self.u64(u64::from(d.subsec_nanos()));
    }

    fn group(&mut self, g: &GroupSpec) {
        let GroupSpec {
            name,
            jobs,
            arrival,
            steps,
        } = g;
        self.str(name);
        self.u64(*jobs);
        match arrival {
            Arrival::Batch => self.tag(0),
            Arrival::Closed { clients, think } => {
                self.tag(1);
                self.u64(*clients);
                match think {
                    None => self.tag(0),
                    Some(d) => {
                        self.tag(1);
                        self.spec(d);
                    }
                }
            }
            Arrival::Open { rate, process } => {
                self.tag(2);
                self.f64(*rate);
                self.tag(match process {
                    ArrivalProcess::Poisson => 0,
                    ArrivalProcess::Uniform => 1,
                });
            }
        }
        self.steps(steps);
    }

    fn steps(&mut self, steps: &[Step]) {
        self.u64(steps.len() as u64);
        for s in steps {
            match s {
                Step::Cpu(d) => {
                    self.tag(0);
                    self.spec(d);
                }
                Step::Native(d) => {
                    self.tag(1);
                    self.spec(d);
                }
                Step::Io(d) => {
                    self.tag(2);
                    self.spec(d);
                }
                Step::Lock { name, cpu } => {
                    self.tag(3);
                    self.str(name);
                    self.spec(cpu);
                }
                Step::Counter {
                    name,
                    add,
                    guard,
                    switch_inside,
                } => {
                    self.tag(4);
                    self.str(name);
                    self.u64(*add);
                    self.tag(match guard {
                        Guard::None => 0,
                        Guard::Lock => 1,
                        Guard::Atomic => 2,
                    });
                    self.tag(u8::from(*switch_inside));
                }
                Step::Repeat { times, steps } => {
                    self.tag(5);
                    self.u64(*times);
                    self.steps(steps);
                }
            }
        }
    }

    fn spec(&mut self, d: &DurationSpec) {
        match *d {
            DurationSpec::Fixed(x) => {
                self.tag(0);
                self.dur(x);
            }
            DurationSpec::Exp { mean } => {
                self.tag(1);
                self.dur(mean);
            }
            DurationSpec::Uniform { min, max } => {
                self.tag(2);
                self.dur(min);
                self.dur(max);
            }
            DurationSpec::Normal { mean, stddev } => {
                self.tag(3);
                self.dur(mean);
                self.dur(stddev);
            }
            DurationSpec::LogNormal { median, p99 } => {
                self.tag(4);
                self.dur(median);
                self.dur(p99);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::Plan;
    use std::path::Path;

    fn plan(toml: &str, seed: Option<u64>) -> Plan {
        let set = crate::config::parse(toml, Path::new("d.toml")).unwrap();
        match seed {
            Some(s) => Plan::with_seed(&set, s),
            None => Plan::new(&set),
        }
    }

    const BASE: &str = "name = \"d\"\nseed = 3\n[[group]]\nname = \"g\"\njobs = 100\narrival = { rate = 50 }\nsteps = [{ cpu = { dist = \"exp\", mean = \"1ms\" } }, { io = \"2ms\" }]\n";

    #[test]
    fn same_config_and_seed_same_hash() {
        let a = plan(BASE, None).sha256;
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, plan(BASE, None).sha256);
        assert_eq!(
            a,
            plan(BASE, Some(3)).sha256,
            "--seed 3 is the config's own"
        );
        let renamed = BASE.replace("name = \"d\"", "name = \"other\"");
        assert_eq!(
            a,
            plan(&renamed, None).sha256,
            "the config's name is a label"
        );
        let with_backend = format!("{BASE}[[backend]]\nkind = \"rayon\"\n");
        assert_eq!(
            a,
            plan(&with_backend, None).sha256,
            "backends are not the plan"
        );
    }

    #[test]
    fn any_changed_value_changes_the_hash() {
        let a = plan(BASE, None).sha256;
        let variants = [
            BASE.replace("seed = 3", "seed = 4"),
            BASE.replace("jobs = 100", "jobs = 101"),
            BASE.replace("rate = 50", "rate = 50.5"),
            BASE.replace("rate = 50", "rate = 50, process = \"uniform\""),
            BASE.replace("mean = \"1ms\"", "mean = \"1001us\""),
            BASE.replace("io = \"2ms\"", "native = \"2ms\""),
            BASE.replace("name = \"g\"", "name = \"h\""),
            format!("{BASE}[gil]\nswitch_interval = \"4ms\"\n"),
        ];
        for v in &variants {
            assert_ne!(a, plan(v, None).sha256, "{v}");
        }
        assert_ne!(a, plan(BASE, Some(5)).sha256, "--seed 5");
    }
}
