package io.bundlevisor.manage.launch;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The scratch folders of launches: a dead process's folder goes at the next launch, a live one's stays. */
class RunFolderTest {

    @TempDir
    Path cache;

    @Test
    void aDeadProcessesFolderIsSweptALiveOnesKept() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path runs = Files.createDirectories(cache.resolve("run"));
        Path dead = Files.createDirectories(runs.resolve(Long.toString(gone.pid())).resolve("osgi.1.fw"));
        Files.writeString(dead.resolve("bundle.jar"), "x");
        Path live = Files.createDirectories(runs.resolve(Long.toString(ProcessHandle.current().pid())));
        Path other = Files.createDirectories(runs.resolve("not-a-pid"));
        RunFolder.sweep(runs);
        assertFalse(Files.exists(runs.resolve(Long.toString(gone.pid()))), "the killed process's folder is gone");
        assertTrue(Files.exists(live), "a running process keeps its folder");
        assertTrue(Files.exists(other), "what is not ours stays");
    }
}
