package io.bundlevisor.manage.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * This process's scratch folder, {@code CACHE/run/PID}: the OSGi framework's storage goes there (bnd's
 * {@code launch.storage.dir}) instead of a folder in /tmp, and the {@code bundlevisor} script makes it the JVM's
 * temporary directory too, for the jars bnd's launcher unpacks (java.io.tmpdir cannot be changed once the JVM runs).
 * A process that was killed (SIGKILL, a crash) cannot clean up, so every launch first removes the folders of
 * processes that no longer exist: nothing is left behind for long, whatever the end.
 */
final class RunFolder {

    /** bnd's launcher property for the framework's storage folder (it cleans it at start). */
    static final String STORAGE = "launch.storage.dir";

    private RunFolder() {
    }

    /** Removes the dead processes' folders under {@code cache}, makes this one's and puts the framework there. */
    static Path claim(Path cache) throws IOException {
        Path runs = cache.resolve("run");
        Files.createDirectories(runs);
        sweep(runs);
        Path mine = runs.resolve(Long.toString(ProcessHandle.current().pid()));
        Files.createDirectories(mine);
        Path framework = mine.resolve("framework");
        System.setProperty(STORAGE, framework.toString());
        // The launcher cleans a storage folder it was given at start, not at exit: this does, once the JVM ends
        // (after the framework stopped, when it ends by itself).
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(framework), "bundlevisor-storage"));
        return mine;
    }

    /** Removes the folders of processes that no longer run. */
    static void sweep(Path runs) throws IOException {
        try (Stream<Path> folders = Files.list(runs)) {
            for (Path f : folders.toList()) {
                String name = f.getFileName().toString();
                if (name.matches("\\d{1,10}") && !alive(Long.parseLong(name))) {
                    deleteTree(f);
                }
            }
        }
    }

    /** Whether process {@code pid} runs: it exists and is not a zombie waiting for its parent to reap it. */
    static boolean alive(long pid) {
        if (ProcessHandle.of(pid).isEmpty()) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int end = stat.lastIndexOf(')'); // "PID (COMMAND) STATE ...": the command may hold anything
            return end < 0 || end + 2 >= stat.length() || stat.charAt(end + 2) != 'Z';
        } catch (IOException e) {
            return false; // gone meanwhile
        }
    }

    /** Deletes {@code root} and everything under it, best effort (a file another process holds stays). */
    static void deleteTree(Path root) {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // what could not be removed now is removed by a later launch's sweep
        }
    }
}
