package backoff

// Pause and Relax, and which to use.
//
// Pause(n) is the runtime's own spin (procyield): n spin-wait hints, which
// tell the core that it is spinning (on amd64 a PAUSE also keeps a
// hyperthread sibling and the memory-order machine from being flooded by
// the loop). How long a hint lasts depends on the processor: about 27 ns
// per PAUSE on the AMD EPYC CI machine, a few nanoseconds on older Intel
// cores, about 40 ns on Skylake and later. sync.Mutex spins 4 x Pause(30),
// so a lock that spins with Pause spins as long as sync.Mutex does on every
// machine. Relax(n) is a fixed amount of arithmetic, about 1 ns an
// iteration here; it suits backoff schedules whose length is meant in
// nanoseconds rather than relative to the runtime's spin.
