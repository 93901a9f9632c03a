package io.bundlevisor.distro;

import static org.ops4j.pax.exam.CoreOptions.bundle;
import static org.ops4j.pax.exam.CoreOptions.cleanCaches;
import static org.ops4j.pax.exam.CoreOptions.frameworkProperty;
import static org.ops4j.pax.exam.CoreOptions.frameworkStartLevel;
import static org.ops4j.pax.exam.CoreOptions.junitBundles;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.ops4j.pax.exam.Option;

/**
 * The framework the in-framework tests run: the distro's own runtime bundles (copied from this module's
 * dependencies into target/itest-bundles), with SPI Fly and ASM first so SLF4J finds its provider, then logging,
 * then everything else, then our bundles.
 */
final class PlatformConfiguration {

    private PlatformConfiguration() {
    }

    static Option[] options() throws IOException {
        Path dir = Path.of(System.getProperty("bundlevisor.itest.bundles", "target/itest-bundles"));
        List<Option> options = new ArrayList<>();
        try (Stream<Path> jars = Files.list(dir)) {
            for (Path jar : jars.filter(p -> p.toString().endsWith(".jar")).sorted().toList()) {
                options.add(bundle(jar.toUri().toString()).startLevel(startLevel(jar.getFileName().toString())));
            }
        }
        if (options.isEmpty()) {
            throw new IllegalStateException("no bundles in " + dir + ": run through Maven (mvnw verify)");
        }
        options.add(junitBundles());
        options.add(frameworkProperty("felix.bootdelegation.implicit").value("false"));
        options.add(systemProperty("org.slf4j.simpleLogger.defaultLogLevel").value("info"));
        options.add(frameworkStartLevel(10));
        options.add(cleanCaches());
        return options.toArray(new Option[0]);
    }

    private static int startLevel(String jar) {
        if (jar.startsWith("asm") || jar.contains("spifly")) {
            return 1;
        }
        if (jar.startsWith("slf4j")) {
            return 2;
        }
        if (jar.startsWith("platform.")) {
            return 4;
        }
        if (jar.startsWith("device.")) {
            return 5;
        }
        return 3;
    }
}
