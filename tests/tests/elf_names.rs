//! No root: every program and map name userspace expects (agent-common's name lists) exists in
//! the eBPF object embedded in the built binary.

use agent_common::names;

#[test]
fn every_expected_program_and_map_is_in_the_object() {
    let bytes = hbwatch::probes::loader::object_bytes();
    assert!(
        !bytes.is_empty(),
        "hbwatch was built with AYA_BUILD_SKIP: no eBPF object to check"
    );
    let obj = aya_obj::Object::parse(bytes).expect("parse the embedded eBPF object");
    let programs: Vec<&str> = names::ALL_PROGRAMS
        .iter()
        .chain(names::PACKET_PROGRAMS)
        .copied()
        .collect();
    for p in &programs {
        assert!(
            obj.programs.contains_key(*p),
            "program {p} missing; object has {:?}",
            obj.programs.keys().collect::<Vec<_>>()
        );
    }
    for m in names::ALL_MAPS
        .iter()
        .chain(names::PACKET_MAPS)
        .chain(names::CPU_TASK_MAPS)
    {
        assert!(
            obj.maps.contains_key(*m),
            "map {m} missing; object has {:?}",
            obj.maps.keys().collect::<Vec<_>>()
        );
    }
    // Globals are found by symbol name at load (override_global), so the names must be there.
    for g in [
        names::GLOBAL_KERNEL_OFFSETS,
        names::GLOBAL_KSOFTIRQD_PIDS,
        names::GLOBAL_TP_VEC_OFFSET,
    ] {
        assert!(
            bytes
                .windows(g.len() + 1)
                .any(|w| w[..g.len()] == *g.as_bytes() && w[g.len()] == 0),
            "global {g} missing from the object's symbols"
        );
    }
}
