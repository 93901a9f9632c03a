package io.bundlevisor.distro;

import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The exported jar as the tests start it: {@code java [properties] -jar target/bundlevisor.jar}. */
final class DistroJar {

    /**
     * The framework stops one start level short of the shell's (1000), as the launcher has it for {@code run} and
     * {@code serve}: the process's stdin is the guest's, not a shell's.
     */
    static final String NO_SHELL = "-Dorg.osgi.framework.startlevel.beginning=999";

    private DistroJar() {
    }

    /**
     * The command line: no illegal native access (the manifest grants FFM), Felix's Unsafe notice silenced, the log
     * level {@code logLevel} ({@code -Dbundlevisor.log.level}), then {@code properties} ({@code -Dbundlevisor.run=...},
     * {@code -Dbundlevisor.serve=...}: the arguments as the launcher hands them to the platform).
     */
    static List<String> command(String logLevel, List<String> properties) {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path jar = Path.of("target", "bundlevisor.jar");
        assertTrue("the distro jar is built in package, before integration tests", Files.isRegularFile(jar));
        List<String> command = new ArrayList<>(List.of(java, "--illegal-native-access=deny",
                "--sun-misc-unsafe-memory-access=allow", "-Dbundlevisor.log.level=" + logLevel));
        command.addAll(properties);
        command.addAll(List.of("-jar", jar.toAbsolutePath().toString()));
        return command;
    }
}
