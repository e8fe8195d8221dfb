// Shared by both tenders: guest memory, ELF loading, hypercalls, crash reports, seccomp.
