// Reference side of the NOP benchmark: the same loop as UringBench's "nop" mode, over liburing.
//
//   nop_bench BATCH WARMUP_SECONDS MEASURE_SECONDS REPEATS
//
// Prints one "rep I OPS_PER_SEC" line per repeat, "cpu U user-ns/op S sys-ns/op" (this thread's CPU time per
// op while measuring), then "median OPS_PER_SEC".
// Build: gcc -O2 -o nop_bench nop_bench.c -luring
#define _GNU_SOURCE // RUSAGE_THREAD
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define ENTRIES 64

static unsigned long total_ops; // completed by run(), all calls together

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Runs rounds of BATCH NOPs for about SECONDS; returns completed ops per second.
// The clock is read once per round, as the Java side does.
static double run(struct io_uring *ring, unsigned batch, double seconds) {
    unsigned long ops = 0;
    double start = now(), end = start + seconds, t;
    do {
        for (unsigned i = 0; i < batch; i++) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, ops + i);
        }
        int r = io_uring_submit_and_wait(ring, batch);
        if (r < 0) {
            fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-r));
            exit(1);
        }
        // Reap until the whole batch is back (it always is after the wait; the loop mirrors the Java side).
        unsigned got = 0;
        while (got < batch) {
            unsigned head, n = 0;
            struct io_uring_cqe *cqe;
            io_uring_for_each_cqe(ring, head, cqe) {
                if (cqe->res < 0) {
                    fprintf(stderr, "NOP failed: %s\n", strerror(-cqe->res));
                    exit(1);
                }
                n++;
            }
            io_uring_cq_advance(ring, n);
            got += n;
        }
        ops += got;
    } while ((t = now()) < end);
    total_ops += ops;
    return ops / (t - start);
}

// This thread's CPU time in user space and in the kernel, in nanoseconds.
static void cpu_times(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    *user = ru.ru_utime.tv_sec * 1e9 + ru.ru_utime.tv_usec * 1e3;
    *sys = ru.ru_stime.tv_sec * 1e9 + ru.ru_stime.tv_usec * 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s BATCH WARMUP_SECONDS MEASURE_SECONDS REPEATS\n", argv[0]);
        return 2;
    }
    unsigned batch = (unsigned) atoi(argv[1]);
    double warmup = atof(argv[2]), seconds = atof(argv[3]);
    int reps = atoi(argv[4]);
    if (batch < 1 || batch > ENTRIES || reps < 1 || reps > 100 || seconds <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }

    struct io_uring ring;
    int r = io_uring_queue_init(ENTRIES, &ring, 0);
    if (r < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
        return 1;
    }
    if (warmup > 0) {
        run(&ring, batch, warmup);
    }
    double results[100], user0, sys0, user1, sys1;
    total_ops = 0;
    cpu_times(&user0, &sys0);
    for (int i = 0; i < reps; i++) {
        results[i] = run(&ring, batch, seconds);
        printf("rep %d %.0f\n", i + 1, results[i]);
    }
    cpu_times(&user1, &sys1);
    printf("cpu %.0f user-ns/op %.0f sys-ns/op\n", (user1 - user0) / total_ops, (sys1 - sys0) / total_ops);
    qsort(results, reps, sizeof results[0], cmp);
    double median = reps % 2 ? results[reps / 2] : (results[reps / 2 - 1] + results[reps / 2]) / 2;
    printf("median %.0f\n", median);
    io_uring_queue_exit(&ring);
    return 0;
}
