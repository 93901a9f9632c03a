package io.bundlevisor.distro;

import static org.ops4j.pax.exam.CoreOptions.bundle;
import static org.ops4j.pax.exam.CoreOptions.cleanCaches;
import static org.ops4j.pax.exam.CoreOptions.frameworkProperty;
import static org.ops4j.pax.exam.CoreOptions.frameworkStartLevel;
import static org.ops4j.pax.exam.CoreOptions.junitBundles;
import static org.ops4j.pax.exam.CoreOptions.systemPackages;
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
 * dependencies into target/itest-bundles), our bundles last; SLF4J and Logback come from the class path through the
 * system bundle, as in the exported jar (src/test/resources/logback-test.xml sets the levels).
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
        options.add(systemPackages(logging()));
        // Pax Exam's own bundles log through pax-logging's fallback, which prints DEBUG unless told otherwise.
        options.add(systemProperty("org.ops4j.pax.logging.DefaultServiceLog.level").value("WARN"));
        // The deploy folder's watcher (FileInstall) watches a folder of the tests' own, quickly.
        Path deploy = Files.createDirectories(Path.of("target", "itest-deploy")).toAbsolutePath();
        options.add(frameworkProperty("felix.fileinstall.dir").value(deploy.toString()));
        options.add(frameworkProperty("felix.fileinstall.poll").value("200"));
        options.add(frameworkProperty("felix.fileinstall.noInitialDelay").value("true"));
        options.add(frameworkProperty("felix.fileinstall.enableConfigSave").value("false"));
        options.add(frameworkStartLevel(10));
        options.add(cleanCaches());
        return options.toArray(new Option[0]);
    }

    /**
     * What the exported jar's system bundle exports of the launcher's logging, read from the jar's launcher.properties
     * (bundlevisor.bndrun's -runsystempackages says it once).
     */
    private static String[] logging() throws IOException {
        Path jar = Path.of("target", "bundlevisor.jar");
        try (java.util.jar.JarFile j = new java.util.jar.JarFile(jar.toFile())) {
            java.util.Properties p = new java.util.Properties();
            try (java.io.InputStream in = j.getInputStream(j.getEntry("launcher.properties"))) {
                p.load(in);
            }
            java.util.regex.Matcher m = java.util.regex.Pattern
                    .compile("((?:org\\.slf4j|ch\\.qos\\.logback)[\\w.]*);version=\"([\\d.]+)\"")
                    .matcher(p.getProperty("launch.system.packages", ""));
            List<String> packages = new ArrayList<>();
            while (m.find()) {
                packages.add(m.group(1) + ";version=" + m.group(2));
            }
            if (packages.isEmpty()) {
                throw new IllegalStateException(jar + " exports no logging packages");
            }
            return packages.toArray(String[]::new);
        }
    }

    private static int startLevel(String jar) {
        if (jar.startsWith("platform.")) {
            return 4;
        }
        if (jar.startsWith("device.")) {
            return 5;
        }
        return 3;
    }
}
