//! Every kept input of every fuzz target (`fuzz/corpus/<target>/`, what libFuzzer found worth
//! keeping, and the inputs that once crashed or hung) replayed through the target's body: none
//! may panic, and none may take long.

use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn every_corpus_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut inputs = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let started = Instant::now();
            target(&data);
            let took = started.elapsed();
            assert!(took < Duration::from_secs(2), "{} took {took:?}", path.display());
            inputs += 1;
        }
        assert!(inputs > 0, "the corpus of {name} is empty");
        replayed += inputs;
    }
    println!("{replayed} inputs replayed");
}
