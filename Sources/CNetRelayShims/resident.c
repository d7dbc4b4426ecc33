#define _GNU_SOURCE
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "CNetRelayShims.h"

// See CNetRelayShims.h. For each loaded object with a file behind it (the executable, whose
// name is "", and the shared libraries, named by path; not the vDSO), every PT_LOAD segment
// that is neither writable nor inside PT_GNU_RELRO maps the file's bytes unchanged: its pages
// are clean page cache, which MADV_DONTNEED unmaps without losing anything (the next access
// maps them again from the page cache). Writable and RELRO segments hold relocated data (private
// copies) and are never touched. Only whole pages inside a segment's file bytes are advised.

struct drop_state {
    unsigned long bytes;
    long page;
    int seen_main;
};

static int relro_overlaps(const struct dl_phdr_info *info, ElfW(Addr) start, ElfW(Addr) end) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_GNU_RELRO) continue;
        ElfW(Addr) rs = info->dlpi_addr + p->p_vaddr, re = rs + p->p_memsz;
        if (rs < end && start < re) return 1;
    }
    return 0;
}

static int drop_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct drop_state *st = data;
    const char *name = info->dlpi_name;
    // The executable comes first, named ""; afterwards "" or a name without a '/' is the vDSO
    // (or something else without a file): leave those alone.
    if (name == NULL || name[0] == '\0') {
        if (st->seen_main) return 0;
        st->seen_main = 1;
    } else if (strchr(name, '/') == NULL) {
        return 0;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD || (p->p_flags & PF_W) || p->p_filesz == 0) continue;
        ElfW(Addr) start = info->dlpi_addr + p->p_vaddr;
        ElfW(Addr) end = start + p->p_filesz;
        start = (start + st->page - 1) & ~(ElfW(Addr))(st->page - 1);
        end &= ~(ElfW(Addr))(st->page - 1);
        if (end <= start || relro_overlaps(info, start, end)) continue;
        if (madvise((void *)start, end - start, MADV_DONTNEED) == 0) st->bytes += end - start;
    }
    return 0;
}

unsigned long CNetRelay_dropCleanTextPages(void) {
    struct drop_state st = {0, sysconf(_SC_PAGESIZE), 0};
    if (st.page <= 0) return 0;
    dl_iterate_phdr(drop_object, &st);
    return st.bytes;
}
