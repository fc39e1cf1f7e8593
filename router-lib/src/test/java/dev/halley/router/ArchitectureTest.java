package dev.halley.router;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaModifier;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * router-lib's package rules (docs/router-lib.md): the public API in {@code dev.halley.router}, the
 * request machinery in {@code internal}, which knows nothing of the public types, so dependencies
 * point one way and there is no cycle.
 */
class ArchitectureTest {
  private static final String ROOT = "dev.halley.router";
  private static JavaClasses main;

  @BeforeAll
  static void importMainClasses() {
    main =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages(ROOT);
  }

  @Test
  void internalDependsOnNoPublicType() {
    noClasses()
        .that()
        .resideInAPackage(ROOT + ".internal..")
        .should()
        .dependOnClassesThat(resideInAPackage(ROOT).or(resideInAPackage(ROOT + ".micrometer..")))
        .check(main);
  }

  @Test
  void packagesAreFreeOfCycles() {
    slices().matching(ROOT + ".(**)").should().beFreeOfCycles().check(main);
  }

  @Test
  void theImplementationIsNotPublic() {
    for (String name :
        new String[] {
          "ClusterPublisher",
          "NodeLane",
          "OwnerCalls",
          "PublishRequest",
          "PublishTracker",
          "Fragment",
          "RecipientOrder",
          "SafeListener",
          "Settings"
        }) {
      classes()
          .that()
          .haveFullyQualifiedName(ROOT + "." + name)
          .should()
          .notHaveModifier(JavaModifier.PUBLIC)
          .check(main);
    }
  }
}
