// Put in front of every kernel: the step parameters one forward pass shares
// (the first position of the step and its token count), at binding 1 of
// group 0 where a kernel uses them.
struct Step { start: u32, n: u32, unused0: u32, unused1: u32 }
