package dev.halley.node.config;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a field of {@link NodeConfig} or {@link OperationsConfig} as a configuration option: its
 * name is the field's name (in files; {@code HALLEY_} plus upper snake case in the environment),
 * its default is the field's initializer, and this annotation holds its unit (as docs/ list it) and
 * its range, which {@link ConfigBinder#check} enforces.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.FIELD)
public @interface Option {
  /** The unit column of the docs' option tables: "ms", "bytes", "list", "path", ... */
  String unit();

  /** The value must be > 0. */
  boolean positive() default false;

  /** Smallest allowed value (numbers). */
  long min() default Long.MIN_VALUE;

  /** Largest allowed value (numbers). */
  long max() default Long.MAX_VALUE;
}
