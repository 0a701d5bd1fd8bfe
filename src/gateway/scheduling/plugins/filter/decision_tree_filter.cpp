// decision-tree-filter (upstream's legacy default): runs the filter `current`; when it keeps
// some endpoints, `nextOnSuccess` continues from those; when it keeps none, `nextOnFailure`
// continues from the candidates it was given; `nextOnSuccessOrFailure` stands for both. Each
// branch is `{pluginRef: name}` or `{decisionTree: {...}}`, recursively.
#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

struct Node {
  std::shared_ptr<Filter> current;
  std::unique_ptr<Node> on_success, on_failure;
};

void run(const Node& node, CycleState& state, Candidates& c) {
  Candidates kept = c;
  node.current->filter(state, kept);
  if (!kept.empty()) {
    if (node.on_success) run(*node.on_success, state, kept);
    c = std::move(kept);
  } else if (node.on_failure) {
    run(*node.on_failure, state, c);
  } else {
    c.truncate(0);
  }
}

class DecisionTreeFilter final : public Filter {
 public:
  explicit DecisionTreeFilter(std::unique_ptr<Node> root) : root_(std::move(root)) {}
  void filter(CycleState& state, Candidates& c) override { run(*root_, state, c); }

 private:
  std::unique_ptr<Node> root_;
};

std::unique_ptr<Node> read_tree(const config::PluginParameter& tree, Parameters& p,
                                const PluginLookup& lookup);

// A branch: {pluginRef: name} or {decisionTree: {...}}.
std::unique_ptr<Node> read_branch(const config::PluginParameter& branch, Parameters& p,
                                  const PluginLookup& lookup) {
  if (!branch.is_map) {
    p.error(branch, "must be {pluginRef: ...} or {decisionTree: ...}");
    return nullptr;
  }
  if (const auto* tree = branch.field("decisionTree")) return read_tree(*tree, p, lookup);
  const auto* ref = branch.field("pluginRef");
  if (!ref || ref->is_map) {
    p.error(branch, "must be {pluginRef: ...} or {decisionTree: ...}");
    return nullptr;
  }
  auto plugin = std::dynamic_pointer_cast<Filter>(lookup(ref->value));
  if (!plugin) {
    p.error(*ref, "'" + ref->value + "' is not a filter defined earlier in plugins");
    return nullptr;
  }
  auto node = std::make_unique<Node>();
  node->current = std::move(plugin);
  return node;
}

std::unique_ptr<Node> read_tree(const config::PluginParameter& tree, Parameters& p,
                                const PluginLookup& lookup) {
  if (!tree.is_map || !tree.field("current")) {
    p.error(tree, "a decision tree needs `current`");
    return nullptr;
  }
  for (const auto& f : tree.fields)
    if (f.key != "current" && f.key != "nextOnSuccess" && f.key != "nextOnFailure" &&
        f.key != "nextOnSuccessOrFailure")
      p.error(f, "unknown field of a decision tree");
  auto node = read_branch(*tree.field("current"), p, lookup);
  if (!node) return nullptr;
  if (node->on_success || node->on_failure) {
    // `current` was itself a tree: keep it as the filter of a new node.
    auto inner = std::make_shared<DecisionTreeFilter>(std::move(node));
    node = std::make_unique<Node>();
    node->current = std::move(inner);
  }
  const auto* both = tree.field("nextOnSuccessOrFailure");
  const auto* success = tree.field("nextOnSuccess");
  const auto* failure = tree.field("nextOnFailure");
  if (both && (success || failure))
    p.error(*both, "nextOnSuccessOrFailure excludes nextOnSuccess and nextOnFailure");
  if (success || both) node->on_success = read_branch(success ? *success : *both, p, lookup);
  if (failure || both) node->on_failure = read_branch(failure ? *failure : *both, p, lookup);
  return node;
}

}  // namespace

void register_decision_tree_filter(PluginRegistry& r) {
  r.add("decision-tree-filter",
        [](Parameters& p, const PluginLookup& lookup) -> std::shared_ptr<Plugin> {
          const auto* current = p.raw("current");
          config::PluginParameter tree;
          tree.is_map = true;
          tree.where = p.spec().parameters.where;
          tree.path = p.spec().parameters.path;
          for (const char* key :
               {"current", "nextOnSuccess", "nextOnFailure", "nextOnSuccessOrFailure"})
            if (const auto* v = p.raw(key)) tree.fields.push_back(*v);
          if (!current) {
            p.error("decision-tree-filter needs parameters.current");
            return nullptr;
          }
          auto node = read_tree(tree, p, lookup);
          if (!node) return nullptr;
          return std::make_shared<DecisionTreeFilter>(std::move(node));
        });
}

}  // namespace infergate::gateway::scheduling
