import 'package:flutter/material.dart';

import '../utils/constants.dart';

/// The dark background washed from violet (top) to turquoise (bottom).
class GradientBackground extends StatelessWidget {
  const GradientBackground({super.key, required this.child});

  final Widget child;

  @override
  Widget build(BuildContext context) => DecoratedBox(
        decoration: const BoxDecoration(gradient: AppColors.backgroundGradient),
        child: child,
      );
}
