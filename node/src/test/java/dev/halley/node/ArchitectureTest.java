package dev.halley.node;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The package rules of docs/architecture.md, checked on the node's compiled main classes: no cycle
 * between packages (the root package, holding {@link HalleyNode}, is a package like the others),
 * {@code stream} depends on nothing of Halley but {@code wire}, {@code wire} on nothing at all, and
 * {@code config} on no other package of the node.
 */
class ArchitectureTest {
  private static final String NODE = "dev.halley.node";

  private static JavaClasses classes;

  @BeforeAll
  static void importMainClasses() {
    classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages(NODE);
  }

  /** One slice per package of the node: {@code (root)}, {@code stream}, {@code transport.ws}... */
  static final SliceAssignment PACKAGES =
      new SliceAssignment() {
        @Override
        public SliceIdentifier getIdentifierOf(JavaClass c) {
          String p = c.getPackageName();
          if (p.equals(NODE)) {
            return SliceIdentifier.of("(root)");
          }
          if (p.startsWith(NODE + ".")) {
            return SliceIdentifier.of(p.substring(NODE.length() + 1));
          }
          return SliceIdentifier.ignore();
        }

        @Override
        public String getDescription() {
          return "packages of " + NODE;
        }
      };

  @Test
  void packagesAreFreeOfCycles() {
    slices().assignedFrom(PACKAGES).should().beFreeOfCycles().check(classes);
  }

  @Test
  void streamDependsOnNothingOfHalleyButWire() {
    noClasses()
        .that()
        .resideInAPackage(NODE + ".stream..")
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.halley..")
                .and(not(resideInAnyPackage(NODE + ".stream..", NODE + ".wire.."))))
        .check(classes);
  }

  @Test
  void wireDependsOnNothingOfHalley() {
    noClasses()
        .that()
        .resideInAPackage(NODE + ".wire..")
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.halley..").and(not(resideInAPackage(NODE + ".wire.."))))
        .check(classes);
  }

  /**
   * The files of the root package (the public API) do not use each other in a circle either: {@code
   * NodeCommand} starts a {@code HalleyNode}, so {@code HalleyNode} must not call back into the
   * command line.
   */
  @Test
  void theRootPackagesFilesAreFreeOfCycles() {
    slices()
        .assignedFrom(
            new SliceAssignment() {
              @Override
              public SliceIdentifier getIdentifierOf(JavaClass c) {
                if (!c.getPackageName().equals(NODE)) {
                  return SliceIdentifier.ignore();
                }
                String name = c.getName().substring(NODE.length() + 1);
                int nested = name.indexOf('$');
                return SliceIdentifier.of(nested < 0 ? name : name.substring(0, nested));
              }

              @Override
              public String getDescription() {
                return "files of " + NODE;
              }
            })
        .should()
        .beFreeOfCycles()
        .check(classes);
  }

  @Test
  void configIsALeaf() {
    noClasses()
        .that()
        .resideInAPackage(NODE + ".config..")
        .should()
        .dependOnClassesThat(
            resideInAPackage(NODE + "..").and(not(resideInAPackage(NODE + ".config.."))))
        .check(classes);
  }

  @Test
  void transportsDoNotDependOnEachOther() {
    for (String t : new String[] {"ws", "sse", "poll"}) {
      String mine = NODE + ".transport." + t + "..";
      noClasses()
          .that()
          .resideInAPackage(mine)
          .should()
          .dependOnClassesThat(
              resideInAPackage(NODE + ".transport.*..").and(not(resideInAPackage(mine))))
          .check(classes);
    }
  }

  @Test
  void theNodesServicesBuildOnNodeCoreNotOnNodeContext() {
    noClasses()
        .that()
        .haveFullyQualifiedName(NODE + ".cluster.NodeOperations")
        .or()
        .haveFullyQualifiedName(NODE + ".cluster.AccessControl")
        .or()
        .haveFullyQualifiedName(NODE + ".cluster.NodeCore")
        .should()
        .dependOnClassesThat()
        .haveFullyQualifiedName(NODE + ".cluster.NodeContext")
        .check(classes);
  }
}
