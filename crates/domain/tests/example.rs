//! The crate's example is part of its suite: it runs a stream's life on the ports it defines
//! and checks what it prints (participants present, counters, the events in order).

#[path = "../examples/in_memory.rs"]
mod in_memory;

#[test]
fn the_in_memory_example_runs_a_streams_life_on_ports_it_defines() {
    in_memory::main().expect("the example runs without an error");
}
