//! Writes a synthetic recording for timing `hbwatch report`: `gap_recording PATH SECONDS`
//! gives a 1 s UDP heartbeat with a gap of a rotating cause every five minutes.

use hbwatch::recording::synth::causes::{GapSpec, Scenario, write};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(secs)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: gap_recording PATH SECONDS");
    };
    let secs: u64 = secs.parse()?;
    let causes = [
        Scenario::RcvbufOverflow,
        Scenario::SoftirqDelay,
        Scenario::AppStall,
        Scenario::Netfilter,
        Scenario::BacklogOverflow,
        Scenario::PeerStopped,
    ];
    let gaps: Vec<GapSpec> = (1..secs / 300)
        .map(|i| GapSpec {
            at_s: i * 300,
            len_s: 4,
            scenario: causes[i as usize % causes.len()],
        })
        .collect();
    write(std::path::Path::new(&path), secs, &gaps)?;
    println!("{path}: {secs} s, {} gaps", gaps.len());
    Ok(())
}
