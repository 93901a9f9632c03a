package io.bundlevisor.manage.launch;

import java.io.PrintWriter;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The executable jar's entry point: parses the command line before the OSGi framework starts (so {@code --help},
 * {@code --version} and every usage error answer at once), then hands the arguments to the platform through
 * system properties and starts it with bnd's embedded launcher.
 */
public final class Main {

    /** bnd's launcher, at the root of the executable jar (Embedded-Runpath holds the framework). */
    static final String EMBEDDED_LAUNCHER = "aQute.launcher.pre.EmbeddedLauncher";

    private Main() {
    }

    public static void main(String[] args) throws Throwable {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        Launch.Decision d = Launch.decide(args, out, err, Runtime.getRuntime().availableProcessors());
        out.flush();
        err.flush();
        if (d.exitStatus().isPresent()) {
            System.exit(d.exitStatus().getAsInt());
        }
        for (Map.Entry<String, String> p : d.properties().entrySet()) {
            System.setProperty(p.getKey(), p.getValue());
        }
        Path jar = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path cache = BundleFiles.cache(System.getenv());
        try {
            RunFolder.claim(cache);
        } catch (java.io.IOException e) {
            err.println("bundlevisor: " + cache + ": " + e.getMessage() + " (temporary files go to "
                    + System.getProperty("java.io.tmpdir") + ")");
        }
        if (Files.isRegularFile(jar)) {
            BundleFiles.properties(jar, cache).forEach(System::setProperty);
        }
        if (System.console() == null || !System.console().isTerminal()) {
            // No terminal (a pipe, a test): JLine's line-by-line terminal, chosen rather than warned about.
            System.setProperty("org.jline.terminal.dumb", "true");
        }
        // An interactive shell owns the terminal: its log lines go to the buffer log:display reads (and
        // --log-file); run and serve log to stderr.
        Logging.configureFromProperties(System.getProperty(Launch.RUN) != null
                || System.getProperty(Launch.SERVE) != null || System.getProperty(Launch.API_SOCKET) != null
                || System.getProperty(Launch.API_CONFIG) != null);
        Class<?> launcher = Class.forName(EMBEDDED_LAUNCHER);
        String[] none = new String[0];
        MethodHandles.publicLookup().findStatic(launcher, "main", MethodType.methodType(void.class, String[].class))
                .asFixedArity().invoke(none);
    }
}
